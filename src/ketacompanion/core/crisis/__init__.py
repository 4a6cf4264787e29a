"""Crisis support in the core: detection, escalation and the crisis lines shown to people."""
