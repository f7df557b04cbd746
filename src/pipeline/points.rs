//! Goal parts that carry no checkable fact but still must be said: "tell him to turn off that
//! breaker", "reply STOP to opt out", "likely a clogged cartridge or aerator". The fact checks
//! cannot see them go missing, so an English draft is held to their content words instead.
//! Other languages are left alone: there the words are translated.

use super::compose::goal_points;
use super::facts;

/// Words that carry no content of their own in an operator's note: function words, the verbs
/// that address the drafter ("tell him", "offer", "explain"), and time words the fact checks
/// already cover.
const NOT_CONTENT: &[&str] = &[
    "about", "after", "again", "also", "because", "been", "before", "being", "both", "came",
    "come", "comes", "confirm", "could", "does", "doesn't", "done", "don't", "each", "explain",
    "from", "going", "have", "he's", "here", "isn't", "it's", "just", "know", "likely", "maybe",
    "mention", "more", "most", "much", "need", "needs", "next", "note", "offer", "once", "only",
    "other", "over", "please", "probably", "remind", "reply", "said", "same", "she's", "should",
    "since", "some", "soon", "still", "sure", "tell", "than", "that", "their", "them", "then",
    "there", "these", "they", "this", "those", "time", "today", "tomorrow", "tonight", "until",
    "very", "want", "wants", "we'll", "we're", "week", "were", "what", "when", "where", "which",
    "while", "will", "with", "would", "your", "yours",
];

/// Whether the draft may word `point` its own way: a courtesy (held to its words by
/// [`courtesy`] instead), a greeting, or a question, which `guardrails::questions_asked_for`
/// checks. A request worded as "ask him to turn the AC off" is none of these: it has to be
/// said, in its words.
fn own_wording(point: &str) -> bool {
    let lower = point.to_lowercase();
    let mut words = lower.split_whitespace();
    let first = words.next().unwrap_or("");
    let request = first == "ask" && words.nth(1) == Some("to");
    courtesy(point).is_some() || (!request && ["greet", "ask"].iter().any(|c| first.starts_with(c)))
}

/// Courtesies a goal opens a part with, and the words an English draft says each with.
const COURTESIES: &[(&str, &[&str])] = &[
    ("apolog", &["sorry", "apologies", "apologize", "apologise"]),
    ("sorry", &["sorry", "apologies", "apologize", "apologise"]),
    ("thank", &["thank", "grateful", "appreciate"]),
];

/// The courtesy `point` opens with ("apologise, Mike is running late"), as a note of its own
/// (`apologise`), and the words that say it.
pub fn courtesy(point: &str) -> Option<(String, Vec<String>)> {
    let first = point.split_whitespace().next()?;
    let verb = first.trim_matches(|c: char| !c.is_alphabetic());
    let lower = verb.to_lowercase();
    COURTESIES
        .iter()
        .find(|(opening, _)| lower.starts_with(opening))
        .map(|(_, words)| {
            (
                verb.to_string(),
                words.iter().map(|w| w.to_string()).collect(),
            )
        })
}

/// The content words of a goal part: four letters or more and not in `NOT_CONTENT`.
fn content_words(point: &str) -> Vec<String> {
    let lower = point.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for w in lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let w = w.trim_matches('\'');
        if w.chars().count() >= 4
            && w.chars().all(char::is_alphabetic)
            && !NOT_CONTENT.contains(&w)
            && !out.iter().any(|o| o == w)
        {
            out.push(w.to_string());
        }
    }
    out
}

/// The first five letters: "clogged" and "clogging" are the same word here.
fn stem(word: &str) -> String {
    word.chars().take(5).collect()
}

/// Whether `text` has a word starting with the stem of any of `words`.
pub fn says_any(text: &str, words: &[String]) -> bool {
    let lower = text.to_lowercase();
    let drafted: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
    words.iter().any(|w| {
        let s = stem(w);
        drafted.iter().any(|d| d.starts_with(&s))
    })
}

/// The goal's fact-free parts an English draft leaves unsaid, each with its content words. A
/// part counts as said when the draft has any one of them, so only a part dropped outright is
/// reported.
///
/// A courtesy the goal opens a part with ("apologise, Mike is running late") counts as said
/// when the draft says it in any words for it; left out, it is reported as the courtesy alone
/// (`apologise`), since the rest of its part has its own checks.
pub fn unsaid(goal: &str, draft: &str, technicians: &[String]) -> Vec<(String, Vec<String>)> {
    let courtesies = goal_points(goal)
        .into_iter()
        .filter_map(|point| courtesy(&point))
        .filter(|(_, words)| !says_any(draft, words));
    let dropped = goal_points(goal)
        .into_iter()
        .filter(|point| facts::extract(point, technicians).is_empty())
        .filter(|point| !own_wording(point))
        .filter_map(|point| {
            let words = content_words(&point);
            (!words.is_empty() && !says_any(draft, &words)).then_some((point, words))
        });
    courtesies.chain(dropped).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_instruction_is_unsaid() {
        let goal = "tell him to turn off that breaker and not use the outlet; Owen is on the way, ETA 45 minutes";
        let dropped = unsaid(goal, "Hi Aaron, Owen is on the way, ETA 45 minutes.", &[]);
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert!(dropped[0].1.contains(&"breaker".to_string()));
        let kept = "Hi Aaron, please switch the breaker off and leave the outlet alone. Owen is on the way, ETA 45 minutes.";
        assert!(unsaid(goal, kept, &[]).is_empty());
    }

    #[test]
    fn courtesies_and_fact_parts_are_left_to_their_own_checks() {
        let goal = "apologise for the wait; Brian will be there tomorrow at 8 AM";
        assert!(unsaid(goal, "Hi Ricardo, sorry! See you soon.", &["Brian".into()]).is_empty());
    }

    #[test]
    fn a_left_out_courtesy_is_reported_on_its_own() {
        let goal = "apologise, Mike is running 20 minutes late after an emergency call";
        let late = "Hi Greg, Mike is running 20 minutes late after an emergency call.";
        let dropped = unsaid(goal, late, &[]);
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert_eq!(dropped[0].0, "apologise");
        let sorry = "Hi Greg, so sorry: Mike is running 20 minutes late.";
        assert!(unsaid(goal, sorry, &[]).is_empty());
        let thanked = "Hi Lisa, we really appreciate it! The receipt is in your email.";
        assert!(unsaid("thank her, receipt sent to her email", thanked, &[]).is_empty());
    }

    #[test]
    fn a_request_worded_as_ask_is_held_to_its_words() {
        let goal =
            "Tasha can come today between noon and 2 PM; ask him to turn the AC off until then";
        let dropped = unsaid(
            goal,
            "Hi Terrence, Tasha can come today between noon and 2 PM.",
            &[],
        );
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        // a question is checked as a question, not by its words
        assert!(unsaid("ask which model he bought", "Hi Marcus, it's $145.", &[]).is_empty());
    }

    #[test]
    fn words_match_by_stem() {
        let goal = "likely a clogged cartridge or aerator";
        assert!(unsaid(goal, "It sounds like the aerators are blocked.", &[]).is_empty());
        assert_eq!(unsaid(goal, "We can take a look.", &[]).len(), 1);
    }
}
