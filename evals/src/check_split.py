"""Checks the message fixtures: valid labels, unique ids, and no near-duplicates across train/test
(character 3-gram Jaccard >= 0.6 is reported). Run from the repository root."""
import glob, json, sys

TAGS = {"quote_request", "booking_request", "schedule_change", "complaint", "billing", "question", "confirmation", "spam"}
URG = {"emergency", "high", "normal", "low"}


def grams(t):
    t = " ".join(t.lower().split())
    return {t[i:i + 3] for i in range(max(1, len(t) - 2))}


def load(split):
    rows = []
    for f in sorted(glob.glob(f"evals/messages/{split}/*.jsonl")):
        for n, line in enumerate(open(f, encoding="utf-8"), 1):
            if line.strip():
                r = json.loads(line)
                assert set(r["tags"]) <= TAGS and r["tags"], (f, n, r["tags"])
                assert r["urgency"] in URG, (f, n)
                rows.append(r)
    return rows


train, test = load("train"), load("test")
ids = [r["id"] for r in train + test]
assert len(ids) == len(set(ids)), "duplicate ids"
bad = 0
tg = [(r, grams(r["text"])) for r in train]
for r in test:
    g = grams(r["text"])
    if len(r["text"]) < 25:
        continue  # "ok", "thanks!" exist in every language's both splits by nature
    for t, h in tg:
        j = len(g & h) / len(g | h)
        if j >= 0.6:
            bad += 1
            print(f"near-duplicate {j:.2f}: {r['id']} ~ {t['id']}: {r['text'][:60]!r}")
print(f"train {len(train)}, test {len(test)}, near-duplicates {bad}")
sys.exit(1 if bad else 0)
