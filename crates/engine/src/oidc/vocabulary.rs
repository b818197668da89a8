//! The guide's vocabulary: scopes (section 2.2.1) and ACR values (section 2.2.2).

use serde::{Deserialize, Serialize};

macro_rules! tokens {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $token:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $token)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn token(self) -> &'static str {
                match self {
                    $($name::$variant => $token,)*
                }
            }

            pub fn parse(token: &str) -> Option<$name> {
                match token {
                    $($token => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

tokens! {
    /// A scope a client may ask for.
    Scope {
        Openid => "openid",
        OfflineAccess => "offline_access",
        Profile => "profile",
        Phone => "phone",
        MidLocation => "mid_location",
        MidProfile => "mid_profile",
        MidCms => "mid_cms",
        MidEsignBasic => "mid_esign_basic",
    }
}

tokens! {
    /// An authentication context class: assurance level, methods, extra checks.
    Acr {
        Al2Any => "mid_al2_any",
        Al3Any => "mid_al3_any",
        Al3Simcard => "mid_al3_simcard",
        Al3Mobileapp => "mid_al3_mobileapp",
        Al3AnyCh => "mid_al3_any_ch",
        Al4Any => "mid_al4_any",
        Al4Simcard => "mid_al4_simcard",
        Al4Mobileapp => "mid_al4_mobileapp",
        Al4AnyCh => "mid_al4_any_ch",
    }
}

impl Acr {
    /// AL4: the serial number from `login_hint` must be the user's current one.
    pub fn checks_serial(self) -> bool {
        matches!(self, Acr::Al4Any | Acr::Al4Simcard | Acr::Al4Mobileapp | Acr::Al4AnyCh)
    }

    /// `_ch`: the phone must be in Switzerland (country, confidence, accuracy).
    pub fn checks_country(self) -> bool {
        matches!(self, Acr::Al3AnyCh | Acr::Al4AnyCh)
    }

    /// Whether a login on a phone app (our only method besides the robot SIMs) may meet it.
    pub fn allows_app(self) -> bool {
        !matches!(self, Acr::Al3Simcard | Acr::Al4Simcard)
    }

    /// Whether a login with a SIM (the robot test users) may meet it.
    pub fn allows_sim(self) -> bool {
        !matches!(self, Acr::Al3Mobileapp | Acr::Al4Mobileapp)
    }
}

/// A space-separated list of scopes; the unknown ones are returned apart.
pub fn parse_scopes(value: &str) -> (Vec<Scope>, Vec<String>) {
    let mut scopes = Vec::new();
    let mut unknown = Vec::new();
    for token in value.split_whitespace() {
        match Scope::parse(token) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => unknown.push(token.to_string()),
        }
    }
    (scopes, unknown)
}

pub fn scope_string(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.token()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for acr in Acr::ALL {
            assert_eq!(Acr::parse(acr.token()), Some(*acr));
        }
        assert_eq!(Acr::ALL.len(), 9);
        let (scopes, unknown) = parse_scopes("openid  phone openid email");
        assert_eq!(scopes, [Scope::Openid, Scope::Phone]);
        assert_eq!(unknown, ["email"]);
        assert_eq!(serde_json::to_string(&Acr::Al4AnyCh).unwrap(), "\"mid_al4_any_ch\"");
    }
}
