//! Identifiers that travel between the layers as their own types, so a
//! client id cannot be passed where a grant id belongs (both are random
//! strings of the same shape, and a mix-up would revoke the wrong thing).
//! A string from a request becomes an id at the edge, with `From`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A registered client's `client_id`.
    ClientId
);
id_type!(
    /// One authorization (see [`super::Grant`]): what a code, its refresh
    /// tokens and its access tokens are issued under.
    GrantId
);

impl ClientId {
    /// A fresh, unguessable client id.
    pub fn generate() -> Self {
        Self(crate::crypto::random_token(16))
    }
}

impl GrantId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_their_text() {
        let id = ClientId::from("abc");
        assert_eq!(id, "abc");
        assert_eq!(id.len(), 3, "derefs to str");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        assert_eq!(serde_json::from_str::<GrantId>("\"g\"").unwrap(), GrantId::from("g"));
        assert_eq!(format!("{id}"), "abc");
    }
}
