//! A left-out technician's name written into the draft as the subject of the sentence that
//! already carries the rest of its part of the goal: "I'll be there at 2 PM today" for "Owen
//! can be there at 2 PM today" becomes "Owen will be there at 2 PM today".
//!
//! This is the commonest fault of a first draft (the model answers as the technician), and the
//! general patch (`patch`) costs a second generation and adds a sentence that repeats the time
//! ("... at 2 PM today. Owen can be there at 2 PM today."). English only: elsewhere the subject
//! is often only in the verb's ending.

use super::facts::{self, Fact};
use super::patch::Gap;
use super::sentences::sentences;

/// `draft` with each of the gap's left-out names made the subject of the sentence that carries
/// another fact of the same goal part, where that sentence has a first-person or anonymous
/// subject to replace ("we'll", "I can", "a technician"); `None` when no name could be put in.
pub fn name_subjects(draft: &str, gap: &Gap, technicians: &[String]) -> Option<String> {
    let mut text = draft.to_string();
    let mut changed = false;
    for fact in &gap.facts {
        let Fact::Name(name) = fact else {
            continue;
        };
        let Some(point) = gap
            .points
            .iter()
            .find(|p| facts::extract(p, technicians).contains(fact))
        else {
            continue;
        };
        let beside: Vec<Fact> = facts::extract(point, technicians)
            .into_iter()
            .filter(|f| !matches!(f, Fact::Name(_)) && facts::present(f, &text))
            .collect();
        let renamed = sentences(&text).into_iter().find_map(|sentence| {
            let at = beside
                .iter()
                .filter_map(|f| fact_word(&sentence, f))
                .min()?;
            let named = with_subject(&sentence, at, name)?;
            Some((sentence, named))
        });
        if let Some((sentence, named)) = renamed {
            text = text.replacen(&sentence, &named, 1);
            changed = true;
        }
    }
    changed.then_some(text)
}

/// A word of a sentence: its byte range and its lower-cased form with a plain apostrophe.
struct Word {
    start: usize,
    end: usize,
    lower: String,
}

fn words(sentence: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    let is_word = |c: char| c.is_alphanumeric() || c == '\'' || c == '’';
    for (i, c) in sentence.char_indices().chain([(sentence.len(), ' ')]) {
        match (start, is_word(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let lower = sentence[s..i].to_lowercase().replace('’', "'");
                out.push(Word {
                    start: s,
                    end: i,
                    lower,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The index of the word at which `fact` is first present in `sentence`, if it is.
fn fact_word(sentence: &str, fact: &Fact) -> Option<usize> {
    let ws = words(sentence);
    (0..ws.len()).find(|&i| facts::present(fact, &sentence[..ws[i].end]))
}

/// Subjects a name can stand in for: the words, and the verb the name then takes (`None`
/// keeps the sentence's own verb: "a technician can" → "Owen can").
const SUBJECTS: &[(&[&str], Option<&str>)] = &[
    (&["i'll"], Some("will")),
    (&["we'll"], Some("will")),
    (&["i", "will"], Some("will")),
    (&["we", "will"], Some("will")),
    (&["i", "can"], Some("can")),
    (&["we", "can"], Some("can")),
    (&["i'm"], Some("is")),
    (&["we're"], Some("is")),
    (&["i", "am"], Some("is")),
    (&["we", "are"], Some("is")),
    (&["i'd"], Some("would")),
    (&["we'd"], Some("would")),
    (&["i", "would"], Some("would")),
    (&["we", "would"], Some("would")),
    (&["i've"], Some("has")),
    (&["we've"], Some("has")),
    (&["i", "have"], Some("has")),
    (&["we", "have"], Some("has")),
    (&["our", "technician"], None),
    (&["a", "technician"], None),
    (&["our", "tech"], None),
    (&["a", "tech"], None),
    (&["someone"], None),
];

/// `sentence` with the subject nearest before word `at` (else the first after it) replaced by
/// `name`; `None` when the sentence has none.
fn with_subject(sentence: &str, at: usize, name: &str) -> Option<String> {
    let ws = words(sentence);
    let found: Vec<(usize, usize, Option<&str>)> = (0..ws.len())
        .filter_map(|i| {
            SUBJECTS.iter().find_map(|(pattern, verb)| {
                let end = i + pattern.len();
                (end <= ws.len() && ws[i..end].iter().zip(*pattern).all(|(w, p)| w.lower == *p))
                    .then_some((i, end, *verb))
            })
        })
        .collect();
    let (first, end, verb) = found
        .iter()
        .rev()
        .find(|(i, _, _)| *i < at)
        .or_else(|| found.first())
        .copied()?;
    let replacement = match verb {
        Some(verb) => format!("{name} {verb}"),
        None => name.to_string(),
    };
    Some(format!(
        "{}{replacement}{}",
        &sentence[..ws[first].start],
        &sentence[ws[end - 1].end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::patch;

    fn techs() -> Vec<String> {
        ["Owen Price", "Trey Jackson", "Dana Cole", "Priya Shah"]
            .map(String::from)
            .to_vec()
    }

    fn named(goal: &str, draft: &str) -> Option<String> {
        let gap = patch::gap(goal, draft, &techs(), true, true);
        name_subjects(draft, &gap, &techs())
    }

    #[test]
    fn the_technician_takes_the_place_of_i_or_we_in_the_sentence_with_the_time() {
        assert_eq!(
            named(
                "Owen can be there at 2 PM today; service call is $95",
                "Hi Thomas, I'll be there at 2 PM today to check the lights. The service call will cost $95."
            )
            .as_deref(),
            Some("Hi Thomas, Owen will be there at 2 PM today to check the lights. The service call will cost $95.")
        );
        assert_eq!(
            named(
                "Priya can do a site visit Tuesday at 9 AM",
                "Hi Howard, thanks for reaching out. We will be conducting a site visit on Tuesday at 9 AM."
            )
            .as_deref(),
            Some("Hi Howard, thanks for reaching out. Priya will be conducting a site visit on Tuesday at 9 AM.")
        );
        assert_eq!(
            named(
                "offer Monday at 10 AM with Dana; tune-up is $99",
                "Hi Heather, we can come Monday at 10 AM. The tune-up is $99."
            )
            .as_deref(),
            Some("Hi Heather, Dana can come Monday at 10 AM. The tune-up is $99.")
        );
    }

    #[test]
    fn the_subject_nearest_before_the_fact_is_the_one_replaced() {
        assert_eq!(
            named(
                "Trey can check it Wednesday at 2 PM",
                "Hi Sandra, I’m sorry about the pressure, but I’ll check it on Wednesday at 2 PM."
            )
            .as_deref(),
            Some("Hi Sandra, I’m sorry about the pressure, but Trey will check it on Wednesday at 2 PM.")
        );
        assert_eq!(
            named(
                "Trey can check it Wednesday at 2 PM",
                "Hi Sandra, on Wednesday at 2 PM a technician can check it."
            )
            .as_deref(),
            Some("Hi Sandra, on Wednesday at 2 PM Trey can check it.")
        );
    }

    #[test]
    fn no_sentence_to_rename_leaves_the_draft_to_the_general_patch() {
        // no subject to replace in the sentence with the time
        assert_eq!(
            named(
                "Owen can be there at 2 PM today",
                "Hi Thomas, see you at 2 PM today. We will call ahead."
            ),
            None
        );
        // the goal part has no other fact to find its sentence by
        assert_eq!(
            named("Owen is on the way", "Hi Thomas, we're on the way."),
            None
        );
        // a name the draft already has is not a gap
        assert_eq!(
            named(
                "Owen can be there at 2 PM",
                "Hi Thomas, Owen will be there at 2 PM."
            ),
            None
        );
    }
}
