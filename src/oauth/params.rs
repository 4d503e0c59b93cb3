//! Form and query parameters as pairs, so repeated parameters can be refused:
//! RFC 6749 §3.1 and §3.2, "Request and response parameters MUST NOT be
//! included more than once."

use std::collections::HashMap;

use crate::error::OAuthError;

/// Parameters that may be sent more than once: RFC 8707 `resource`, RFC
/// 8693 `audience`.
pub const REPEATABLE: &[&str] = &["resource", "audience"];

#[derive(Debug, Default, Clone)]
pub struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
    /// Every value of a [`REPEATABLE`] parameter, in order.
    many: HashMap<String, Vec<String>>,
}

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut map = HashMap::with_capacity(pairs.len());
        let mut repeated = None;
        let mut many: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            if REPEATABLE.contains(&k.as_str()) {
                if !v.is_empty() {
                    many.entry(k.clone()).or_default().push(v.clone());
                }
                map.entry(k).or_insert(v);
                continue;
            }
            match map.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    repeated.get_or_insert_with(|| e.key().clone());
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Self { map, repeated, many }
    }

    /// Every value of a repeatable parameter (empty ones left out).
    pub fn all(&self, key: &str) -> &[String] {
        self.many.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn parse(query: &str) -> Self {
        Self::from_pairs(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    /// Fails when any parameter was sent more than once.
    pub fn check_unique(&self) -> Result<(), OAuthError> {
        match &self.repeated {
            Some(k) => Err(OAuthError::invalid_request(format!("parameter `{k}` was sent more than once"))),
            None => Ok(()),
        }
    }

    /// The value of `key`; an empty value counts as absent (RFC 6749 §3.1:
    /// "Parameters sent without a value MUST be treated as if they were
    /// omitted").
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// These parameters with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.map.insert(key.to_string(), value.to_string());
        if REPEATABLE.contains(&key) {
            self.many.insert(key.to_string(), vec![value.to_string()]);
        }
        self
    }

    /// Every parameter, for keeping a request (a repeated one appears once:
    /// such a request is refused before it is kept).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .map
            .iter()
            .filter(|(k, _)| !REPEATABLE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, values) in &self.many {
            pairs.extend(values.iter().map(|v| (k.clone(), v.clone())));
        }
        pairs.sort();
        pairs
    }

    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{key}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty() {
        let p = Params::parse("a=1&b=&a=2");
        assert!(p.check_unique().is_err());
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert!(Params::parse("a=1&b=2").check_unique().is_ok());
    }

    #[test]
    fn resources_may_repeat() {
        let p = Params::parse("resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&resource=&x=1");
        assert!(p.check_unique().is_ok());
        assert_eq!(p.all("resource"), ["https://a.example", "https://b.example"]);
        assert_eq!(Params::from_pairs(p.pairs()).all("resource"), p.all("resource"), "kept whole");
        assert!(p.all("audience").is_empty());
    }
}
