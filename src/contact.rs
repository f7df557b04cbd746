//! Who a message is from: phone numbers normalised to E.164 and emails lower-cased, so the same
//! person lands in the same thread whatever the channel or formatting.

use phonenumber::{country, Mode};

/// A normalised way to reach a customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Handle {
    /// E.164, e.g. `+15125550100`.
    Phone(String),
    /// Lower-cased address.
    Email(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("`{0}` is not a valid phone number")]
    Phone(String),
    #[error("`{0}` is not a valid email address")]
    Email(String),
}

/// Country assumed for numbers written without a `+` prefix; the businesses are US-based.
const DEFAULT_REGION: country::Id = country::Id::US;

impl Handle {
    /// Reads a sender: anything with an `@` is an email, everything else a phone number.
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        let raw = raw.trim();
        if raw.contains('@') {
            normalize_email(raw).map(Handle::Email)
        } else {
            normalize_phone(raw).map(Handle::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Handle::Phone(p) | Handle::Email(p) => p,
        }
    }
}

/// Normalises a phone number in any common formatting ("(512) 555-0100", "512.555.0100",
/// "+1 512 555 0100") to E.164.
pub fn normalize_phone(raw: &str) -> Result<String, HandleError> {
    let invalid = || HandleError::Phone(raw.to_string());
    let digits = raw.chars().filter(|c| c.is_ascii_digit()).count();
    // The parser accepts letters (vanity numbers) and very long inputs; a sender id is neither.
    if !(7..=15).contains(&digits)
        || raw
            .chars()
            .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    {
        return Err(invalid());
    }
    let number = phonenumber::parse(Some(DEFAULT_REGION), raw).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// Lower-cases and sanity-checks an email address: one `@`, a non-empty local part, a dotted
/// domain, no whitespace. Deliverability is the mail system's business, not ours.
pub fn normalize_email(raw: &str) -> Result<String, HandleError> {
    let invalid = || HandleError::Email(raw.to_string());
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok || email.len() > 254 || email.chars().any(char::is_whitespace)
    {
        return Err(invalid());
    }
    Ok(email)
}

/// Digit strings a person might type to find this number: the full E.164 digits, the national
/// number, and its last 7 and 4 digits. Stored in the search index so a prefix match on any of
/// them finds the contact, however the query was formatted.
pub fn phone_search_terms(e164: &str) -> Vec<String> {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    let mut terms = vec![digits.clone()];
    if let Some(national) = digits.strip_prefix('1').filter(|d| d.len() == 10) {
        terms.push(national.to_string());
    }
    for tail in [7, 4] {
        if digits.len() > tail {
            terms.push(digits[digits.len() - tail..].to_string());
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_formats_normalise_to_e164() {
        for raw in [
            "(512) 555-0100",
            "512-555-0100",
            "512.555.0100",
            "+1 512 555 0100",
            "5125550100",
            "1-512-555-0100",
        ] {
            assert_eq!(normalize_phone(raw).as_deref(), Ok("+15125550100"), "{raw}");
        }
        assert_eq!(
            normalize_phone("+44 20 7946 0958").as_deref(),
            Ok("+442079460958")
        );
    }

    #[test]
    fn junk_phones_are_rejected() {
        for raw in [
            "123",
            "hello",
            "555-CALL-NOW",
            "",
            "+1 000 000 0000",
            "1234567890123456789",
        ] {
            assert!(normalize_phone(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email(" Maria.Lopez@Example.COM ").as_deref(),
            Ok("maria.lopez@example.com")
        );
        for raw in [
            "@example.com",
            "maria@",
            "maria@example",
            "a b@example.com",
            "a@@b.com",
        ] {
            assert!(normalize_email(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn handle_picks_email_or_phone() {
        assert_eq!(
            Handle::parse("x@y.co"),
            Ok(Handle::Email("x@y.co".to_string()))
        );
        assert_eq!(
            Handle::parse("(512) 555-0100"),
            Ok(Handle::Phone("+15125550100".to_string()))
        );
    }

    #[test]
    fn phone_terms_cover_national_and_local_digits() {
        assert_eq!(
            phone_search_terms("+15125550100"),
            vec!["15125550100", "5125550100", "5550100", "0100"]
        );
    }
}
