from ketacompanion.cli import main

main()
