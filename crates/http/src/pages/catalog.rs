//! Translations: one TOML file per language in `crates/http/locales/`, embedded in the
//! binary. Keys are dotted (`oidc.phone.title`); a text may hold `{name}` placeholders.
//! Every language has every key and the same placeholders (tested below), so a page
//! never shows a key or an English gap.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::lang::Lang;

const SOURCES: [(Lang, &str); 4] = [
    (Lang::En, include_str!("../../locales/en.toml")),
    (Lang::De, include_str!("../../locales/de.toml")),
    (Lang::Fr, include_str!("../../locales/fr.toml")),
    (Lang::It, include_str!("../../locales/it.toml")),
];

static CATALOGS: LazyLock<HashMap<Lang, HashMap<String, String>>> =
    LazyLock::new(|| SOURCES.iter().map(|(lang, source)| (*lang, flatten(source))).collect());

/// The text of `key` in `lang`; the key itself if it is missing (a test keeps that from
/// happening).
pub fn text(lang: Lang, key: &str) -> &'static str {
    CATALOGS.get(&lang).and_then(|texts| texts.get(key)).map(String::as_str).unwrap_or_else(|| {
        tracing::error!("missing translation {key} ({lang})");
        Box::leak(key.to_string().into_boxed_str())
    })
}

/// The text of `key` with its `{name}` placeholders filled in.
pub fn format(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text(lang, key).to_string(), |text, (name, value)| text.replace(&format!("{{{name}}}"), value))
}

fn flatten(source: &str) -> HashMap<String, String> {
    let table: toml::Table = source.parse().expect("the embedded locales are valid TOML (tested)");
    let mut texts = HashMap::new();
    add(&mut texts, "", &table);
    texts
}

fn add(texts: &mut HashMap<String, String>, prefix: &str, table: &toml::Table) {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::String(text) => {
                texts.insert(key, text.clone());
            }
            toml::Value::Table(inner) => add(texts, &key, inner),
            other => panic!("locale key {key} must be a string, not {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn placeholders(text: &str) -> BTreeSet<String> {
        text.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string())).collect()
    }

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        let english = &CATALOGS[&Lang::En];
        assert!(!english.is_empty());
        for lang in Lang::ALL {
            let texts = &CATALOGS[&lang];
            let keys: BTreeSet<_> = texts.keys().collect();
            let expected: BTreeSet<_> = english.keys().collect();
            assert_eq!(keys, expected, "{lang} has other keys than en");
            for (key, text) in texts {
                assert!(!text.trim().is_empty(), "{lang} {key} is empty");
                assert_eq!(placeholders(text), placeholders(&english[key]), "{lang} {key}: placeholders differ");
            }
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let text = format(Lang::En, "oidc.phone.subtitle", &[("client", "Demo Shop")]);
        assert!(text.contains("Demo Shop") && !text.contains('{'), "{text}");
    }
}
