//! The page languages and how one is chosen: the OIDC `ui_locales` parameter (or a
//! language the user picked on the page), then the browser's `Accept-Language`, then
//! English.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    De,
    Fr,
    It,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::It];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::It => "it",
        }
    }

    /// The language's name in itself, for the language switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::Fr => "Français",
            Lang::It => "Italiano",
        }
    }

    /// A language tag (`de`, `de-CH`, `FR`); None for one we do not speak.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|lang| lang.code() == primary)
    }

    /// The first language of a space-separated `ui_locales` list that we speak.
    pub fn from_ui_locales(value: &str) -> Option<Lang> {
        value.split_whitespace().find_map(Lang::parse)
    }

    /// The browser's preferred language among ours, by quality value (RFC 9110 §12.5.4).
    pub fn from_accept_language(value: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else { continue };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((lang, quality));
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// `ui_locales` first, then `Accept-Language`, then English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        ui_locales
            .and_then(Lang::from_ui_locales)
            .or_else(|| accept_language.and_then(Lang::from_accept_language))
            .unwrap_or(Lang::En)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_win_over_the_browser() {
        assert_eq!(Lang::negotiate(Some("it"), Some("de-CH,de;q=0.9")), Lang::It);
        assert_eq!(Lang::negotiate(Some("es fr-CA"), Some("de")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("es"), Some("de")), Lang::De, "an unknown ui_locales falls through");
    }

    #[test]
    fn accept_language_by_quality() {
        assert_eq!(Lang::from_accept_language("en;q=0.5, fr-CH;q=0.9, de;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("es, it;q=0.1"), Some(Lang::It));
        assert_eq!(Lang::from_accept_language("de;q=0, es"), None);
        assert_eq!(Lang::negotiate(None, Some("pt-BR")), Lang::En);
    }
}
