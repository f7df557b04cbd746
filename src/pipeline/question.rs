//! An operator's "ask which model he bought" put to the customer as a question, in English,
//! without a generation: "Could you let us know which model you bought?". The fact-sentence
//! prompt answers such a note with "please let us know which model he bought." — no question,
//! and the customer in the third person (dev-002).

use super::guardrails;

/// The question `point` asks for, put to the customer; `None` when `point` is not an "ask
/// which/if/when …" part (`guardrails::questions_asked_for`).
pub fn put_to_customer(point: &str) -> Option<String> {
    if guardrails::questions_asked_for(point).is_empty() {
        return None;
    }
    let clause = point.trim().split_once(char::is_whitespace)?.1.trim();
    let clause = clause.trim_end_matches(['.', '?', '!', ';', ',']);
    let words: Vec<&str> = clause.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut subject = false;
    for (i, word) in words.iter().enumerate() {
        let lower = word.to_lowercase();
        let next = words.get(i + 1).map(|w| w.to_lowercase());
        let (said, is_subject) = match lower.as_str() {
            "he" | "she" | "they" => ("you".to_string(), true),
            "he's" | "she's" | "they're" => ("you're".to_string(), false),
            "he'll" | "she'll" | "they'll" => ("you'll".to_string(), false),
            "he'd" | "she'd" | "they'd" => ("you'd".to_string(), false),
            "him" | "them" => ("you".to_string(), false),
            "his" | "their" => ("your".to_string(), false),
            "theirs" | "hers" => ("yours".to_string(), false),
            "himself" | "herself" | "themselves" => ("yourself".to_string(), false),
            // "her" before a noun is "your", else (the object) "you"
            "her" => (
                if next.as_deref().is_some_and(|n| !ENDS_A_PHRASE.contains(&n)) {
                    "your"
                } else {
                    "you"
                }
                .to_string(),
                false,
            ),
            _ if subject => (agreeing(word), false),
            _ => (word.to_string(), false),
        };
        subject = is_subject;
        out.push(said);
    }
    Some(format!("Could you let us know {}?", out.join(" ")))
}

/// Words after which "her" was the object ("call her back", "for her").
const ENDS_A_PHRASE: &[&str] = &[
    "a", "about", "after", "and", "at", "back", "before", "by", "for", "in", "is", "on", "or",
    "the", "to", "today", "tomorrow", "up", "with",
];

/// The verb after a subject that became "you", agreeing with it: "he has" → "you have", "she
/// wants" → "you want".
fn agreeing(verb: &str) -> String {
    let lower = verb.to_lowercase();
    let irregular = [
        ("has", "have"),
        ("is", "are"),
        ("was", "were"),
        ("does", "do"),
        ("doesn't", "don't"),
        ("isn't", "aren't"),
        ("wasn't", "weren't"),
        ("hasn't", "haven't"),
    ];
    if let Some((_, to)) = irregular.iter().find(|(from, _)| *from == lower) {
        return to.to_string();
    }
    let plain = lower.chars().all(|c| c.is_ascii_lowercase());
    if !plain || lower.len() <= 3 || !lower.ends_with('s') || lower.ends_with("ss") {
        return verb.to_string();
    }
    if let Some(stem) = lower.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for ending in ["ches", "shes", "xes", "oes", "sses", "zes"] {
        if lower.ends_with(ending) {
            return lower[..lower.len() - 2].to_string();
        }
    }
    lower[..lower.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ask_part_becomes_a_question_to_the_customer() {
        for (part, question) in [
            ("ask which model he bought", "which model you bought"),
            (
                "ask if she wants the old unit hauled away",
                "if you want the old unit hauled away",
            ),
            (
                "ask whether he has a dog or his gate code.",
                "whether you have a dog or your gate code",
            ),
            ("ask what time works for them", "what time works for you"),
            ("ask when we can call her back", "when we can call you back"),
            ("ask if her panel is outside", "if your panel is outside"),
            ("ask if he watches the unit", "if you watch the unit"),
        ] {
            assert_eq!(
                put_to_customer(part),
                Some(format!("Could you let us know {question}?"))
            );
        }
    }

    #[test]
    fn other_parts_are_no_question() {
        assert_eq!(put_to_customer("ask him to turn the AC off"), None);
        assert_eq!(put_to_customer("Mike can come at 3 PM"), None);
    }
}
