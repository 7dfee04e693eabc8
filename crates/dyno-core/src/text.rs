//! Free-text fields people read (merchant names, employee names, descriptions, secrets): one rule
//! for what counts as blank and how length is measured. Invariant: it is the rule the OpenAPI
//! document states (`maxLength` counts characters, `pattern` asks for one visible character), so a
//! value the document calls valid is never refused here, whatever the client's regex flavour.

use crate::{ErrorCode, Problem};

/// Neither whitespace, nor a control character, nor the byte-order mark. The three regex
/// flavours that read the document disagree on `\s` only inside these sets (Python counts
/// U+001C–U+001F, ECMAScript counts U+FEFF), so "has a visible character" means the same to all.
pub fn is_visible(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || c == '\u{feff}')
}

/// A name or a label: at least one visible character, at most `max_chars` characters (Unicode
/// scalar values, as JSON Schema's `maxLength` counts; Arabic names are not cut at half length).
/// Returns it without surrounding whitespace.
pub fn display_text<'a>(field: &str, value: &'a str, max_chars: usize) -> Result<&'a str, Problem> {
    if !value.chars().any(is_visible) || value.chars().count() > max_chars {
        return Err(Problem::new(
            ErrorCode::InvalidRequest,
            format!("{field}: 1 à {max_chars} caractères, dont au moins un visible."),
        ));
    }
    Ok(value.trim())
}

/// An optional free text (a description, a refund reason): at most `max_chars` characters as
/// sent, counted as the document's `maxLength` counts them.
pub fn optional_text_within(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), Problem> {
    match value {
        Some(text) if !char_count_within(text, 0, max_chars) => Err(Problem::new(
            ErrorCode::InvalidRequest,
            format!("{field}: {max_chars} caractères au plus."),
        )),
        _ => Ok(()),
    }
}

/// Whether `value` has between `min` and `max` characters, counted as JSON Schema does.
pub fn char_count_within(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_no_visible_character_in_any_regex_flavour() {
        for blank in [
            "",
            " ",
            "\u{c}",
            "\t\n",
            "\u{1c}\u{1f}",
            "\u{feff}",
            "\u{a0}\u{3000}",
        ] {
            assert!(display_text("name", blank, 10).is_err(), "{blank:?}");
        }
        assert_eq!(display_text("name", "  Café  ", 10).unwrap(), "Café");
        assert_eq!(display_text("name", "\u{c}A", 10).unwrap(), "A");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let arabic = "مطعم".repeat(50); // 200 characters, 400 bytes
        assert_eq!(display_text("name", &arabic, 200).unwrap(), arabic);
        assert!(display_text("name", &format!("{arabic}x"), 200).is_err());
        assert!(!char_count_within("ééééééééééééééé", 16, 256));
        assert!(char_count_within("éééééééééééééééé", 16, 256));
    }

    #[test]
    fn optional_texts_are_measured_as_sent() {
        assert!(optional_text_within("reason", None, 140).is_ok());
        assert!(optional_text_within("reason", Some(&"é".repeat(140)), 140).is_ok());
        let long = optional_text_within("reason", Some(&"é".repeat(141)), 140).unwrap_err();
        assert_eq!(long.detail, "reason: 140 caractères au plus.");
    }

    #[test]
    fn the_error_names_the_field_and_the_rule() {
        let problem = display_text("display_name", " ", 100).unwrap_err();
        assert_eq!(problem.code, ErrorCode::InvalidRequest);
        assert!(
            problem.detail.starts_with("display_name: 1 à 100"),
            "{}",
            problem.detail
        );
    }
}
