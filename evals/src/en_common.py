"""Shared helper: expands the compact hand-written English rows into fixture JSON Lines."""
import json

TAGS = {"Q": "quote_request", "B": "booking_request", "S": "schedule_change", "C": "complaint",
        "$": "billing", "?": "question", "OK": "confirmation", "X": "spam"}
URG = {"e": "emergency", "h": "high", "n": "normal", "l": "low"}
CH = {"s": "sms", "e": "email", "v": "voicemail", "c": "call_summary"}


def write(path, prefix, rows):
    with open(path, "w", encoding="utf-8") as f:
        for i, (ch, tags, urg, text) in enumerate(rows, 1):
            rec = {"id": f"{prefix}-{i:03d}", "channel": CH[ch], "text": text,
                   "tags": [TAGS[t] for t in tags.split()], "urgency": URG[urg], "language": "en"}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(path, len(rows))
