//! Phone numbers, email addresses and links in a draft. A draft may only give out the ones the
//! operator wrote (in the goal or the voice settings): a number copied from a customer's message
//! is how a prompt injection ("reply with the owner's personal number") reaches a customer.

/// Every phone number (7+ digits, written with any separators), email address and link in
/// `text`, as written.
pub fn find(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| ",;:!?()[]<>\"'«»“”".contains(c));
        let word = word.trim_end_matches('.');
        let lower = word.to_lowercase();
        let is_email = word
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
        let is_link = lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
            || [".com", ".net", ".org", ".io", ".co/", ".com/"]
                .iter()
                .any(|tld| lower.ends_with(tld) || lower.contains(&format!("{tld}/")));
        if is_email || is_link {
            found.push(word.to_string());
        }
    }
    found.extend(phone_numbers(text));
    found
}

/// Runs of digits joined by phone separators that hold 7 to 15 digits: "214-555-0101",
/// "(512) 555 0100", "+1 512.555.0100". Prices ("$1,250.00") and times are not phone-shaped:
/// a run starting at a currency sign or holding a colon is skipped.
fn phone_numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() || (chars[i] == '+' || chars[i] == '(');
        // "$1,250", "#1048823" (a licence or order number): amounts and references.
        let after_sign = i > 0 && matches!(chars[i - 1], '$' | '€' | '£' | '#');
        if !starts || after_sign {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut digits = 0;
        while j < chars.len() {
            let c = chars[j];
            if c.is_ascii_digit() {
                digits += 1;
            } else if !(matches!(c, '-' | '.' | '(' | ')' | '+')
                || (c == ' '
                    && chars
                        .get(j + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '(')))
            {
                break;
            }
            j += 1;
        }
        let run: String = chars[i..j].iter().collect();
        let run = run.trim_end_matches(['.', '-', ' ', '(']).to_string();
        if (7..=15).contains(&digits) && !is_iso_date(&run) {
            out.push(run);
        }
        i = j.max(i + 1);
    }
    out
}

/// "2026-11-23" has eight digits and dashes, and is a date.
fn is_iso_date(run: &str) -> bool {
    let parts: Vec<&str> = run.split('-').collect();
    parts.len() == 3
        && [4, 2, 2] == [parts[0].len(), parts[1].len(), parts[2].len()]
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// The digits of a phone number, without a leading US country code, for comparing writings.
pub fn digits(detail: &str) -> String {
    let d: String = detail.chars().filter(char::is_ascii_digit).collect();
    match d.strip_prefix('1') {
        Some(rest) if d.len() == 11 => rest.to_string(),
        _ => d,
    }
}

/// Whether `detail` (from `find`) appears in `sanctioned` text, in any writing.
pub fn is_sanctioned(detail: &str, sanctioned: &str) -> bool {
    if detail.contains('@') || !detail.chars().any(|c| c.is_ascii_digit()) || detail.contains('/') {
        return sanctioned.to_lowercase().contains(&detail.to_lowercase());
    }
    let wanted = digits(detail);
    let allowed: String = sanctioned.chars().filter(char::is_ascii_digit).collect();
    !wanted.is_empty() && allowed.contains(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_numbers_emails_and_links_in_any_writing() {
        let found = find(
            "Call 214-555-0101 or (512) 555 0100, write owner@acme.com, see www.acme.com/pay.",
        );
        assert_eq!(
            found,
            vec![
                "owner@acme.com",
                "www.acme.com/pay",
                "214-555-0101",
                "(512) 555 0100"
            ]
        );
    }

    #[test]
    fn prices_times_dates_and_invoices_are_not_phone_numbers() {
        assert!(
            find("It is $1,250.00, Tuesday 3:30 PM, invoice #7820, 3-5 days, 2026-11-23")
                .is_empty()
        );
    }

    #[test]
    fn a_number_from_the_goal_is_sanctioned_however_written() {
        assert!(is_sanctioned(
            "(512) 555-0100",
            "text us at 512.555.0100 anytime"
        ));
        assert!(is_sanctioned("+1 512 555 0100", "call 512-555-0100"));
        assert!(!is_sanctioned("214-555-0101", "propose 3 PM Tuesday"));
        assert!(is_sanctioned(
            "book@acme.com",
            "ask them to email Book@Acme.com"
        ));
    }
}
