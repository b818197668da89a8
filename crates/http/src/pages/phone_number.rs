//! The phone-number field that pages share (the OpenID login's number page, the portal's
//! sign-up): the country codes offered, and what a user typed into the two fields as an
//! international number.

/// Country codes offered (ISO names are the same in every language).
const COUNTRIES: [(&str, &str); 6] =
    [("41", "CH"), ("423", "LI"), ("49", "DE"), ("43", "AT"), ("33", "FR"), ("39", "IT")];

/// The country code, name, and whether it is the one selected, for the select box.
pub fn country_options(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    COUNTRIES.iter().map(|(code, name)| (*code, *name, *code == selected)).collect()
}

/// A number (digits, international) split into an offered country code and the rest, to
/// fill the two fields again; Switzerland when no offered code matches.
pub fn split_country(number: &str) -> (&'static str, String) {
    COUNTRIES
        .iter()
        .find_map(|(code, _)| number.strip_prefix(code).map(|rest| (*code, rest.to_string())))
        .unwrap_or(("41", number.to_string()))
}

/// What the user typed as `+<digits>`: the national number without separators and its
/// leading zero, after the chosen country code; a number typed with `+` stands alone.
pub fn typed_number(country: &str, number: &str) -> String {
    let national: String =
        number.chars().filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '/' | '(' | ')')).collect();
    let country: String = country.chars().filter(char::is_ascii_digit).collect();
    let national = national.strip_prefix('0').unwrap_or(&national);
    match national.strip_prefix('+') {
        Some(international) => format!("+{}", international.trim_start_matches('+')),
        None => format!("+{country}{national}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_international() {
        assert_eq!(typed_number("41", "079 123 45 67"), "+41791234567");
        assert_eq!(typed_number("+49", "(0)171-234.56/78"), "+491712345678");
        assert_eq!(typed_number("41", "+423 234 56 78"), "+4232345678");
        assert_eq!(split_country("4232345678"), ("423", "2345678".to_string()));
        assert_eq!(split_country("15551234"), ("41", "15551234".to_string()));
        assert_eq!(country_options("49").iter().filter(|(_, _, selected)| *selected).count(), 1);
    }
}
