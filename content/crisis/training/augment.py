#!/usr/bin/env python3
"""Deterministic augmentation of the hand-written crisis-screening training rows.

Reads the hand-written TSV files in this folder and writes:
  en_augmented.tsv     English: long messages with a sentence buried in the middle,
                       typo and obfuscated variants of hand-written bases
  multi_augmented.tsv  es/de/fr/pt/it/nl/hi: long messages built from that
                       language's own everyday rows with a sentence buried inside
Every augmented row keeps the family of the base sentence it came from.
Stdlib only, fixed seed: running it twice gives byte-identical output.
Run from anywhere: python3 augment.py
"""
import os, random

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261201
HEADER = "text\tlabel\tslice\tfamily\tlang"
HAND = ["en_crisis.tsv", "en_concern.tsv", "en_none.tsv", "es.tsv", "de.tsv",
        "fr.tsv", "pt.tsv", "it.tsv", "nl.tsv", "hi.tsv"]

FILLER_EN = [
    "so today started slow, I made coffee and sat by the window for a while",
    "my sister called about her wedding plans and we talked about flowers for ages",
    "the bus was late again so I got to the clinic ten minutes behind",
    "work was busy, three meetings back to back and a broken printer",
    "I took the dog to the park and he rolled in something disgusting",
    "the nurse checked my blood pressure and said it was fine",
    "my partner picked me up after the session and we got noodles",
    "I finally did the laundry that's been sitting there all week",
    "my mum sent me a photo of her new garden",
    "it rained all afternoon so I stayed in and watched a cooking show",
    "I still need to reschedule Thursday's appointment",
    "the kids had a football match and they lost but were happy anyway",
    "my neighbour's renovation is still going, drilling since 8am",
    "I tried the breathing exercise you showed me on the train",
    "had a long chat with my friend about her new job",
    "dinner was leftover pasta, nothing fancy",
    "I was going to write in my journal but I got distracted",
    "my landlord still hasn't fixed the heating",
    "the pharmacy had run out of my usual brand of allergy tablets",
    "I spent an hour sorting out an insurance form",
    "my cat knocked a glass off the table again",
    "the infusion itself was okay, a bit floaty, the room was cold",
    "I went to the supermarket and forgot half the list",
    "my therapist is on holiday for two weeks",
    "we had a barbecue at my brother's place",
    "I watched two episodes of that detective show",
    "my phone screen cracked this morning",
    "I paid the electricity bill finally",
    "I'm trying to drink more water like the clinic said",
    "my back has been sore from the new office chair",
    "my daughter showed me a video of a dancing parrot",
    "I walked past the bakery and bought a cinnamon bun",
    "traffic was awful on the way home",
    "the group session was cancelled so I stayed home",
    "I cleaned the kitchen and put the recycling out",
    "my friend is visiting next month and I need to tidy the spare room",
    "I had a nap in the afternoon which I never do",
    "it's my dad's birthday on Saturday and I haven't got him anything",
    "the clinic wifi was down so I read a magazine in the waiting room",
    "I signed up for a pottery class, starts in March",
]
CONNECT = [", ", ". ", ", and ", ", then ", " and ", "... ", ". anyway, ", ". also "]
ENDINGS = ["", "", ".", " lol", ". that's about it", ". anyway night", ". ok that's my day", "!"]
# connectors and endings in each language, so long messages read like that language
CONNECT_L = {
    "es": [", ", ". ", ", y ", ", luego ", " y ", "... ", ". bueno, ", ". ademas "],
    "de": [", ", ". ", ", und ", ", dann ", " und ", "... ", ". naja, ", ". ausserdem "],
    "fr": [", ", ". ", ", et ", ", puis ", " et ", "... ", ". bref, ", ". aussi "],
    "pt": [", ", ". ", ", e ", ", depois ", " e ", "... ", ". enfim, ", ". tambem "],
    "it": [", ", ". ", ", e ", ", poi ", " e ", "... ", ". comunque, ", ". inoltre "],
    "nl": [", ", ". ", ", en ", ", daarna ", " en ", "... ", ". anyway, ", ". ook "],
    "hi": [", ", ". ", ", aur ", ", phir ", " aur ", "... ", ". khair, ", ". aur haan "],
}
ENDINGS_L = {
    "es": ["", "", ".", " jaja", ". eso es todo", ". buenas noches"],
    "de": ["", "", ".", " haha", ". das wars", ". gute nacht"],
    "fr": ["", "", ".", " mdr", ". voila", ". bonne nuit"],
    "pt": ["", "", ".", " kkk", ". e isso", ". boa noite"],
    "it": ["", "", ".", " ahah", ". tutto qui", ". buonanotte"],
    "nl": ["", "", ".", " haha", ". dat was het", ". welterusten"],
    "hi": ["", "", ".", " haha", ". bas itna hi", ". good night"],
}

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
HOMO = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "i": "\u0456", "x": "\u0445"}
SWAPS = [("you", "u"), ("tonight", "tonite"), ("are", "r"), ("because", "cuz"), ("I'm", "im"),
         ("don't", "dont"), ("can't", "cant"), ("won't", "wont"), ("myself", "myslef"),
         ("going to", "gonna"), ("want to", "wanna"), ("please", "pls"), ("really", "rly"),
         ("the", "teh"), ("just", "jsut"), ("with", "w/"), ("tomorrow", "tmrw"), ("right now", "rn")]

def read(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    assert lines[0] == HEADER, name
    for line in lines[1:]:
        if line:
            rows.append(tuple(line.split("\t")))
    return rows

def typo(text, rnd):
    t = text
    for a, b in SWAPS:
        if a in t and rnd.random() < 0.5:
            t = t.replace(a, b, 1)
    chars = list(t)
    for _ in range(rnd.randint(1, 3)):
        idx = [i for i, c in enumerate(chars) if c.isalpha()]
        if len(idx) < 4:
            break
        i = rnd.choice(idx[1:-1])
        op = rnd.random()
        if op < 0.35:
            del chars[i]
        elif op < 0.7 and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars.insert(i, chars[i])
    t = "".join(chars)
    if rnd.random() < 0.6:
        t = t.lower()
    if rnd.random() < 0.5:
        t = t.replace("'", "")
    return t.rstrip(".")

def obfuscate(text, rnd):
    words = text.split(" ")
    longw = [i for i, w in enumerate(words) if len(w.strip(".,!?")) >= 4]
    if not longw:
        longw = list(range(len(words)))
    k = rnd.choice(longw)
    w = words[k]
    mode = rnd.randrange(4)
    if mode == 0:      # leet
        w = "".join(LEET.get(c.lower(), c) if rnd.random() < 0.7 else c for c in w)
    elif mode == 1:    # spaced letters
        w = " ".join(w)
    elif mode == 2:    # homoglyphs
        w = "".join(HOMO.get(c, c) for c in w)
    else:              # stretched vowel
        for j in range(len(w) - 1, -1, -1):
            if w[j].lower() in "aeiouy":
                w = w[:j] + w[j] * rnd.randint(4, 7) + w[j + 1:]
                break
        else:
            w = w + w[-1] * 4
    words[k] = w
    if mode != 1 and rnd.random() < 0.4:
        k2 = rnd.choice(longw)
        if k2 != k:
            words[k2] = ".".join(words[k2])
    return " ".join(words)

def bury(sentence, fillers, rnd, lo=2, hi=4, lang="en"):
    before = rnd.sample(fillers, rnd.randint(lo, hi))
    rest = [f for f in fillers if f not in before]
    after = rnd.sample(rest, rnd.randint(1, 3))
    parts = [p.rstrip(".") for p in before + [sentence] + after]
    connect = CONNECT_L.get(lang, CONNECT)
    endings = ENDINGS_L.get(lang, ENDINGS)
    out = parts[0]
    for p in parts[1:]:
        c = rnd.choice(connect)
        if out[-1] in "?!":
            c = " " if c in (", ", ". ") else " " + c.lstrip(",. ")
        out += c + p
    e = rnd.choice(endings)
    if out[-1] in "?!" and e.startswith("."):
        e = (" " + e[2:]) if len(e) > 1 else ""
    out = (out + e).strip()
    if rnd.random() < 0.5:
        out = out.lower()
    return out

def main():
    rnd = random.Random(SEED)
    hand = []
    for name in HAND:
        hand += read(name)
    seen = {r[0].strip().lower() for r in hand}
    en_out, multi_out = [], []

    def add(out, text, label, slc, fam, lang):
        k = text.strip().lower()
        if not text.strip() or k in seen or "\t" in text or "\n" in text:
            return False
        seen.add(k)
        out.append((text, label, slc, fam, lang))
        return True

    base_slices = {
        "crisis": ["explicit", "plan_no_keyword", "goodbye", "swallowed_now", "selfharm_now",
                   "place_means", "method_after_distress", "behaviour", "slang"],
        "concern": ["passive", "hopelessness", "burden", "distress", "third_person", "misuse", "numbness"],
        "none": ["session_talk", "idiom", "quoted_speech", "recovery_story", "negation", "grief",
                 "medical", "dark_humour", "topic_question", "dose_question", "game", "lyrics", "news"],
    }
    en = [r for r in hand if r[4] == "en"]
    # one base row per family (the first hand-written one), sorted for determinism
    def bases(label, slices):
        first = {}
        for r in en:
            if r[1] == label and r[2] in slices and r[3] not in first:
                first[r[3]] = r
        return [first[f] for f in sorted(first)]

    # 1. long messages with the sentence buried in the middle
    share = {"crisis": 0.3, "concern": 0.6, "none": 0.55}
    for label in ("crisis", "concern", "none"):
        for r in bases(label, base_slices[label]):
            if rnd.random() < share[label]:
                add(en_out, bury(r[0], FILLER_EN, rnd), label, "long_buried", r[3], "en")
    # long everyday messages with nothing buried: each its own family
    for i in range(1, 101):
        t = bury(rnd.choice(FILLER_EN), FILLER_EN, rnd, 2, 5)
        add(en_out, t, "none", "long_buried", "everyday.aug%03d" % i, "en")

    # 2. typo and obfuscated variants
    for label, share_t, share_o in (("crisis", 0.15, 0.12), ("concern", 0.3, 0.2), ("none", 0.12, 0.08)):
        slices = base_slices[label] + (["everyday"] if label == "none" else [])
        for r in bases(label, slices):
            if len(r[0]) < 3:
                continue
            if rnd.random() < share_t:
                add(en_out, typo(r[0], rnd), label, "typos", r[3], "en")
            if rnd.random() < share_o:
                add(en_out, obfuscate(r[0], rnd), label, "obfuscated", r[3], "en")

    # 3. other languages: bury a sentence among that language's own everyday rows
    for lang in ("es", "de", "fr", "pt", "it", "nl", "hi"):
        rows = [r for r in hand if r[4] == lang]
        fillers = sorted({r[0] for r in rows if r[1] == "none" and r[2] in ("everyday", "idiom") and len(r[0]) > 14})
        if len(fillers) < 8:
            continue
        for label, slices in base_slices.items():
            first = {}
            for r in rows:
                if r[1] == label and r[2] in slices and r[3] not in first:
                    first[r[3]] = r
            fams = sorted(first)
            rnd.shuffle(fams)
            take = {"crisis": 8, "concern": 10, "none": 12}[label]
            for f in sorted(fams[:take]):
                r = first[f]
                add(multi_out, bury(r[0], fillers, rnd, 2, 3, lang), label, "long_buried", r[3], lang)

    for name, out in (("en_augmented.tsv", en_out), ("multi_augmented.tsv", multi_out)):
        tmp = os.path.join(HERE, ".tmp_" + name)
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(HEADER + "\n")
            for row in out:
                fh.write("\t".join(row) + "\n")
        os.replace(tmp, os.path.join(HERE, name))
        print(name, len(out))

if __name__ == "__main__":
    main()
