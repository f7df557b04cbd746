//! The cheap repair for a draft whose only fault is a left-out fact or question: the goal's
//! part that carries it is written as one sentence on its own (the `fact_sentence` prompt, short
//! and without the thread, which small models follow), and inserted into the draft.
//!
//! Rewriting the whole draft (the general repair) costs a full generation and, on the small
//! models, often drops the same fact again: with the thread in view they answer as the
//! technician ("I'll be there at 2 PM") and leave the technician's name out.

use super::compose::goal_points;
use super::facts::{self, Fact};
use super::guardrails;
use super::points;
use super::sentences::sentences;

/// What a draft leaves out: the goal's parts that carry a missing fact, an unasked question
/// or unsaid words, and those facts and words.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub points: Vec<String>,
    pub facts: Vec<Fact>,
    /// The goal asks for a question the draft does not ask.
    pub question: bool,
    /// Content words of fact-free parts the draft dropped (`points::unsaid`).
    pub words: Vec<String>,
}

impl Gap {
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The facts of `goal` that `draft` leaves out, and the parts of the goal that carry them, in
/// the goal's order. Names are only held against drafts in Latin script (`check_names`), as
/// the guardrails do: a name may be transliterated. Fact-free parts are held to their words
/// only in English (`check_words`).
pub fn gap(
    goal: &str,
    draft: &str,
    technicians: &[String],
    check_names: bool,
    check_words: bool,
) -> Gap {
    let mut gap = Gap {
        points: Vec::new(),
        facts: Vec::new(),
        question: false,
        words: Vec::new(),
    };
    let unsaid = if check_words {
        points::unsaid(goal, draft, technicians)
    } else {
        Vec::new()
    };
    let unasked = if guardrails::asks_something(draft) {
        Vec::new()
    } else {
        guardrails::questions_asked_for(goal)
    };
    for point in goal_points(goal) {
        if unasked.contains(&point) {
            gap.question = true;
            gap.points.push(point);
            continue;
        }
        // a left-out courtesy is its own note ("apologise"), not the whole part it opens
        let courtesy = points::courtesy(&point).map(|(verb, _)| verb);
        if let Some((p, words)) = unsaid
            .iter()
            .find(|(p, _)| *p == point || courtesy.as_ref() == Some(p))
        {
            gap.words.extend(words.iter().cloned());
            gap.points.push(p.clone());
            if *p == point {
                continue;
            }
        }
        let missing: Vec<Fact> = facts::extract(&point, technicians)
            .into_iter()
            .filter(|f| check_names || !matches!(f, Fact::Name(_)))
            .filter(|f| !facts::present(f, draft))
            .collect();
        if missing.is_empty() {
            continue;
        }
        for fact in missing {
            if !gap.facts.contains(&fact) {
                gap.facts.push(fact);
            }
        }
        gap.points.push(point);
    }
    gap
}

/// The sentences of `written` that fill the gap (carry any of its facts, or ask its
/// question), joined; `None` when none does.
pub fn carrying_sentences(written: &str, gap: &Gap) -> Option<String> {
    let picked: Vec<String> = sentences(written)
        .into_iter()
        .filter(|s| {
            gap.facts.iter().any(|f| facts::present(f, s))
                || (gap.question && guardrails::asks_something(s))
                || points::says_any(s, &gap.words)
        })
        .collect();
    (!picked.is_empty()).then(|| picked.join(" "))
}

/// Whether a line closes a message ("Best regards,", "Ethan Brooks", "— Summit HVAC").
fn is_closing_line(line: &str, sign_off: &str) -> bool {
    let line = line.trim();
    if line.is_empty() {
        return true;
    }
    if !sign_off.trim().is_empty() && sign_off.contains(line) {
        return true;
    }
    // "Best regards,", "Daniel Park and Jose Ruiz": short, and not a sentence.
    let words = line.split_whitespace().count();
    words <= 6
        && !line.ends_with(['?', '.', '!', '。', '？'])
        && !line.chars().any(|c| c.is_ascii_digit())
}

/// `draft` with `addition` inserted where a writer would have put it: before the sign-off
/// block of a multi-line draft, before a closing pleasantry of a one-line draft, else at the end.
pub fn insert(draft: &str, addition: &str, sign_off: &str) -> String {
    let draft = draft.trim_end();
    let lines: Vec<&str> = draft.lines().collect();
    if lines.len() >= 2 {
        let mut body_end = lines.len();
        while body_end > 1 && is_closing_line(lines[body_end - 1], sign_off) {
            body_end -= 1;
        }
        if body_end < lines.len() {
            let mut out: Vec<String> = lines[..body_end].iter().map(|l| l.to_string()).collect();
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(addition);
            }
            out.extend(lines[body_end..].iter().map(|l| l.to_string()));
            return out.join("\n");
        }
    }
    let parts = sentences(draft);
    let trailer = sign_off.trim();
    if !trailer.is_empty() && draft.ends_with(trailer) && draft.len() > trailer.len() {
        let head = draft[..draft.len() - trailer.len()].trim_end();
        return format!("{head} {addition} {trailer}");
    }
    // A one-line draft may end in a pleasantry ("Thanks for your patience!").
    if let ([_], [.., _, last]) = (lines.as_slice(), parts.as_slice()) {
        let pleasantry = last.split_whitespace().count() <= 10
            && !last.chars().any(|c| c.is_ascii_digit())
            && !last.ends_with('?');
        if pleasantry {
            if let Some(at) = draft.rfind(last.as_str()) {
                let head = draft[..at].trim_end();
                return format!("{head} {addition} {last}");
            }
        }
    }
    format!("{draft} {addition}")
}

/// A text over two SMS segments cut down to fit: sentences that carry none of the goal's
/// facts and ask nothing are dropped, last first, until it fits; the opening greeting stays.
/// `None` when it cannot be made to fit that way. The insertion of a left-out fact is what
/// usually tips a draft over, and a pleasantry ("Hope you feel better!") is what can go.
pub fn fit_sms(
    text: &str,
    opening: Option<&str>,
    goal: &str,
    technicians: &[String],
) -> Option<String> {
    let (head, body) = match opening {
        Some(o) if text.starts_with(o) => (o, &text[o.len()..]),
        _ => ("", text),
    };
    let goal_facts = facts::extract(goal, technicians);
    let mut kept = sentences(body);
    let joined = |kept: &[String]| format!("{head} {}", kept.join(" ")).trim().to_string();
    // A sentence is needed when it asks something or is the only one carrying one of the
    // goal's facts: a patched draft often says "3-5 days" twice.
    let needed = |kept: &[String], at: usize| {
        let s = &kept[at];
        guardrails::asks_something(s)
            || goal_facts.iter().any(|f| {
                facts::present(f, s)
                    && !kept
                        .iter()
                        .enumerate()
                        .any(|(j, other)| j != at && facts::present(f, other))
            })
    };
    while guardrails::sms_segments(&joined(&kept)) > 2 {
        let droppable = (0..kept.len()).rev().find(|&at| !needed(&kept, at))?;
        kept.remove(droppable);
    }
    Some(joined(&kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_sms_loses_its_pleasantries_first() {
        let text = "Hola Guadalupe, gracias por tu mensaje y por tu paciencia con nosotros. \
                    No necesitas pagar los $30 extra. Hoy te devolvimos los $30 a tu tarjeta. \
                    ¡Esperamos que tú y tu familia tengan un excelente fin de semana!";
        let fitted = fit_sms(
            text,
            Some("Hola Guadalupe,"),
            "refund of $30 issued today",
            &[],
        );
        assert_eq!(
            fitted.as_deref(),
            Some("Hola Guadalupe, gracias por tu mensaje y por tu paciencia con nosotros. No necesitas pagar los $30 extra. Hoy te devolvimos los $30 a tu tarjeta.")
        );
        // Said twice, a fact needs only one of its sentences.
        let twice = fit_sms(
            "Chào Hà, tôi xin lỗi vì sự lặp lại của khoản tiền. Chúng tôi đã hoàn trả khoản tiền \
             đó và nó sẽ mất 3-5 ngày để hoàn thành. Khoản phí trùng $230 đã được hoàn trả, \
             mất khoảng 3-5 ngày.",
            Some("Chào Hà,"),
            "the duplicate $230 charge has been refunded, it takes 3-5 business days",
            &[],
        );
        assert_eq!(
            twice.as_deref(),
            Some("Chào Hà, tôi xin lỗi vì sự lặp lại của khoản tiền. Khoản phí trùng $230 đã được hoàn trả, mất khoảng 3-5 ngày.")
        );
        // One sentence that carries the facts cannot be dropped, however long it is.
        let all_facts = format!("Hola Ana, {}$30 hoy.", "muchas gracias y ".repeat(20));
        assert_eq!(
            fit_sms(
                &all_facts,
                Some("Hola Ana,"),
                "refund of $30 issued today",
                &[]
            ),
            None
        );
    }

    fn techs() -> Vec<String> {
        vec!["Trey Jackson".to_string()]
    }

    #[test]
    fn finds_the_goal_part_that_was_left_out() {
        let goal = "tell her to shut the cold water valve; Trey arrives in 30 minutes";
        let draft = "Hi Carla, please shut the cold water valve. We'll be there in 30 minutes.";
        assert_eq!(
            gap(goal, draft, &techs(), true, true),
            Gap {
                points: vec!["Trey arrives in 30 minutes".into()],
                facts: vec![Fact::Name("Trey".into())],
                question: false,
                words: vec![],
            }
        );
        assert!(gap(goal, draft, &techs(), false, true).points.is_empty());
    }

    #[test]
    fn a_left_out_apology_is_its_own_note() {
        let goal = "apologise, Mike is running 20 minutes late after an emergency call";
        let draft = "Hi Greg, Mike is running 20 minutes late after an emergency call.";
        let found = gap(goal, draft, &[], true, true);
        assert_eq!(found.points, ["apologise"]);
        assert!(found.facts.is_empty());
        let mini = "Hi Greg. We are so sorry for the wait.";
        assert_eq!(
            carrying_sentences(mini, &found).as_deref(),
            Some("We are so sorry for the wait.")
        );
    }

    #[test]
    fn takes_only_the_sentences_carrying_the_fact() {
        let mini = "Hi Carla, thanks for your patience. Trey will arrive in about 30 minutes. Best, Summit";
        let missing = |name: &str| Gap {
            points: vec![],
            facts: vec![Fact::Name(name.into())],
            question: false,
            words: vec![],
        };
        assert_eq!(
            carrying_sentences(mini, &missing("Trey")).as_deref(),
            Some("Trey will arrive in about 30 minutes.")
        );
        assert_eq!(carrying_sentences(mini, &missing("Owen")), None);
    }

    #[test]
    fn an_unasked_question_is_a_gap_filled_by_a_question() {
        let goal = "install only is $145; ask which model he bought";
        let found = gap(goal, "Hi Marcus, installation is $145.", &[], true, true);
        assert_eq!(found.points, ["ask which model he bought"]);
        assert!(found.question && found.facts.is_empty());
        let mini = "Hi Marcus, thanks for reaching out. Which model did you buy?";
        assert_eq!(
            carrying_sentences(mini, &found).as_deref(),
            Some("Which model did you buy?")
        );
        assert!(gap(
            goal,
            "Hi Marcus, it's $145. Which brand is it?",
            &[],
            true,
            true
        )
        .is_empty());
    }

    #[test]
    fn a_dropped_instruction_is_a_gap_filled_by_its_words() {
        let goal = "tell him to turn off that breaker; Owen is on the way";
        let found = gap(goal, "Hi Aaron, Owen is on the way.", &[], true, true);
        assert_eq!(found.points, ["tell him to turn off that breaker"]);
        assert!(found.words.contains(&"breaker".to_string()));
        let mini = "Hi Aaron. Please turn off the breaker now. Thanks!";
        assert_eq!(
            carrying_sentences(mini, &found).as_deref(),
            Some("Please turn off the breaker now.")
        );
        // Only English drafts are held to words.
        assert!(gap(goal, "Hola Aaron, Owen va en camino.", &[], true, false).is_empty());
    }

    #[test]
    fn inserts_before_a_signature_of_several_names() {
        let draft = "Hi Michelle,\n\nWe are licensed and insured.\n\nBest regards,  \nDaniel Park and Jose Ruiz";
        assert_eq!(
            insert(draft, "Our licence is CSLB #1048823.", ""),
            "Hi Michelle,\n\nWe are licensed and insured. Our licence is CSLB #1048823.\n\nBest regards,  \nDaniel Park and Jose Ruiz"
        );
    }

    #[test]
    fn inserts_before_the_sign_off_block() {
        let draft = "Hi Raymond,\n\nThe compressor is covered.\n\nBest regards,\nEthan Brooks";
        assert_eq!(
            insert(draft, "It is a 10-year warranty.", ""),
            "Hi Raymond,\n\nThe compressor is covered. It is a 10-year warranty.\n\nBest regards,\nEthan Brooks"
        );
    }

    #[test]
    fn inserts_before_a_closing_pleasantry_or_the_sign_off_of_one_line() {
        assert_eq!(
            insert(
                "Hi Greg, Mike is running late. Thanks for your patience!",
                "Sorry about that.",
                ""
            ),
            "Hi Greg, Mike is running late. Sorry about that. Thanks for your patience!"
        );
        assert_eq!(
            insert(
                "Hi Greg, Mike is running late. - Cool Air",
                "He arrives at 3 PM.",
                "- Cool Air"
            ),
            "Hi Greg, Mike is running late. He arrives at 3 PM. - Cool Air"
        );
        assert_eq!(
            insert("Hi Greg, Mike arrives at 3 PM.", "Trey comes too.", ""),
            "Hi Greg, Mike arrives at 3 PM. Trey comes too."
        );
    }
}
