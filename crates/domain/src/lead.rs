//! Lead validation: a submission is checked against its vertical's schema,
//! its geo and its consent, and split into public fields and PII.
//!
//! The checks here are steps 1–4 of SPEC §4.1 in order; duplicates and caps
//! (steps 5–6) need the database and live in the store. Every failure is a
//! [`LeadError`] with a stable code and the offending field.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::geo::{self, Geo, GeoError, GeoInput};
use crate::vertical::{Catalog, FieldType, Vertical, VerticalStatus};

/// Oldest TCPA consent accepted where a vertical requires it.
pub const CONSENT_MAX_AGE: Duration = Duration::days(30);
/// Clock skew tolerated for consent timestamps in the future.
pub const CONSENT_MAX_SKEW: Duration = Duration::minutes(5);
/// Longest text field value, in characters.
pub const MAX_TEXT_LEN: usize = 2_000;

/// Where a lead came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A web form filled in by the consumer.
    Form,
    /// A seller's system over the API.
    Api,
    /// A partner feed.
    Partner,
    /// A phone call.
    Call,
    /// Anything else.
    Other,
}

impl Source {
    /// Stable lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Api => "api",
            Self::Partner => "partner",
            Self::Call => "call",
            Self::Other => "other",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "form" => Self::Form,
            "api" => Self::Api,
            "partner" => Self::Partner,
            "call" => Self::Call,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

/// Consent as submitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// When the consumer consented (RFC 3339).
    pub tcpa_at: DateTime<Utc>,
    /// The consent language shown.
    #[serde(default)]
    pub text: Option<String>,
    /// A certificate URL (TrustedForm, Jornaya, …).
    #[serde(default)]
    pub proof_url: Option<String>,
}

/// Ad attribution, stored as given (bounded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    /// `utm_source`.
    #[serde(default)]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default)]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default)]
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    #[serde(default)]
    pub utm_term: Option<String>,
    /// `utm_content`.
    #[serde(default)]
    pub utm_content: Option<String>,
    /// An ad-network click id (gclid, fbclid, …).
    #[serde(default)]
    pub click_id: Option<String>,
}

/// A lead submission as it arrives (`POST /v1/leads`). Loosely typed on
/// purpose: `source` and `fields` are checked here so each failure gets a
/// precise code rather than a generic deserialisation error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadSubmission {
    /// Vertical slug or alias.
    pub vertical: String,
    /// Where the consumer is.
    pub geo: GeoInput,
    /// Field values keyed by schema key.
    pub fields: Map<String, Value>,
    /// `form | api | partner | call | other`.
    pub source: String,
    /// TCPA consent.
    #[serde(default)]
    pub consent: Option<ConsentInput>,
    /// An ask of the seller to sell under.
    #[serde(default)]
    pub ask_id: Option<uuid::Uuid>,
    /// UTM / ad attribution.
    #[serde(default)]
    pub attribution: Option<Attribution>,
}

/// Validated consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// When the consumer consented.
    pub tcpa_at: DateTime<Utc>,
    /// The consent language.
    pub text: Option<String>,
    /// Certificate URL.
    pub proof_url: Option<String>,
}

/// Normalised contact points, used for duplicate detection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contacts {
    /// E.164 phone.
    pub phone: Option<String>,
    /// Lower-cased e-mail with `+tags` (and Gmail dots) removed.
    pub email: Option<String>,
}

/// A submission that passed steps 1–4 of SPEC §4.1.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidLead {
    /// Canonical slug of the vertical.
    pub vertical: String,
    /// Slug of its root (duplicate scope).
    pub root_vertical: String,
    /// Normalised geo.
    pub geo: Geo,
    /// Non-PII fields, normalised.
    pub public_fields: Map<String, Value>,
    /// PII fields, normalised; encrypted before storage.
    pub pii_fields: BTreeMap<String, Value>,
    /// Source.
    pub source: Source,
    /// Consent when given.
    pub consent: Option<Consent>,
    /// Contacts for duplicate detection.
    pub contacts: Contacts,
    /// Whether a valid phone was given.
    pub has_phone: bool,
    /// Whether a valid e-mail was given.
    pub has_email: bool,
    /// The ask named by the submission.
    pub ask_id: Option<uuid::Uuid>,
    /// Attribution.
    pub attribution: Option<Attribution>,
}

/// Why a submission was refused. Each variant has a stable `code` and,
/// where one exists, the offending `field` (a JSON path such as
/// `fields.email`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeadError {
    /// No such vertical.
    #[error("unknown vertical `{0}`")]
    UnknownVertical(String),
    /// The vertical is not trading.
    #[error("vertical `{slug}` is {status}, not active")]
    VerticalNotActive {
        /// The vertical.
        slug: String,
        /// Its status.
        status: &'static str,
    },
    /// A required field is absent or empty.
    #[error("field `{0}` is required")]
    MissingField(String),
    /// A field not in the vertical's schema.
    #[error("field `{0}` is not part of this vertical's schema")]
    UnknownField(String),
    /// A value of the wrong JSON type.
    #[error("field `{key}` must be {expected}")]
    InvalidFieldType {
        /// The field.
        key: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A select value not among the options.
    #[error("field `{key}` must be one of: {options}")]
    InvalidOption {
        /// The field.
        key: String,
        /// The allowed options, comma-separated.
        options: String,
    },
    /// A number outside `min..=max`, or a text too long.
    #[error("field `{key}` is out of range: {detail}")]
    OutOfRange {
        /// The field.
        key: String,
        /// Human detail.
        detail: String,
    },
    /// Not an e-mail address.
    #[error("field `{0}` is not a valid e-mail address")]
    InvalidEmail(String),
    /// Not a phone number.
    #[error("field `{0}` is not a valid phone number")]
    InvalidPhone(String),
    /// Not a `YYYY-MM-DD` date.
    #[error("field `{0}` is not a valid date (YYYY-MM-DD)")]
    InvalidDate(String),
    /// A postal-code field not valid for the country.
    #[error("field `{0}` is not a valid postal code for the lead's country")]
    InvalidZip(String),
    /// Unknown `source`.
    #[error("source must be one of form, api, partner, call, other")]
    InvalidSource,
    /// Geo failure.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// The vertical may not trade in the lead's geo.
    #[error("vertical `{slug}` may not trade in {geo}")]
    RestrictedGeo {
        /// The vertical.
        slug: String,
        /// Country or country-region.
        geo: String,
    },
    /// TCPA consent required but absent.
    #[error("vertical requires TCPA consent (consent.tcpa_at)")]
    ConsentRequired,
    /// TCPA consent older than 30 days.
    #[error("TCPA consent is older than 30 days")]
    ConsentExpired,
    /// Consent timestamp in the future.
    #[error("consent.tcpa_at is in the future")]
    ConsentInFuture,
    /// Consent text or URL malformed.
    #[error("{0}")]
    InvalidConsent(&'static str),
    /// Attribution value too long.
    #[error("attribution values are at most 500 characters")]
    InvalidAttribution,
}

impl LeadError {
    /// Stable snake_case error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownVertical(_) => "unknown_vertical",
            Self::VerticalNotActive { .. } => "vertical_not_active",
            Self::MissingField(_) => "missing_field",
            Self::UnknownField(_) => "unknown_field",
            Self::InvalidFieldType { .. } => "invalid_field_type",
            Self::InvalidOption { .. } => "invalid_option",
            Self::OutOfRange { .. } => "value_out_of_range",
            Self::InvalidEmail(_) => "invalid_email",
            Self::InvalidPhone(_) => "invalid_phone",
            Self::InvalidDate(_) => "invalid_date",
            Self::InvalidZip(_) => "invalid_postal_code",
            Self::InvalidSource => "invalid_source",
            Self::Geo(g) => g.code(),
            Self::RestrictedGeo { .. } => "restricted_geo",
            Self::ConsentRequired => "consent_required",
            Self::ConsentExpired => "consent_expired",
            Self::ConsentInFuture => "consent_in_future",
            Self::InvalidConsent(_) => "invalid_consent",
            Self::InvalidAttribution => "invalid_attribution",
        }
    }

    /// The offending field as a JSON path, where there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            Self::UnknownVertical(_) | Self::VerticalNotActive { .. } => Some("vertical".into()),
            Self::MissingField(k)
            | Self::UnknownField(k)
            | Self::InvalidFieldType { key: k, .. }
            | Self::InvalidOption { key: k, .. }
            | Self::OutOfRange { key: k, .. }
            | Self::InvalidEmail(k)
            | Self::InvalidPhone(k)
            | Self::InvalidDate(k)
            | Self::InvalidZip(k) => Some(format!("fields.{k}")),
            Self::InvalidSource => Some("source".into()),
            Self::Geo(g) => Some(g.field().into()),
            Self::RestrictedGeo { .. } => Some("geo".into()),
            Self::ConsentRequired | Self::ConsentExpired | Self::ConsentInFuture | Self::InvalidConsent(_) => {
                Some("consent.tcpa_at".into())
            }
            Self::InvalidAttribution => Some("attribution".into()),
        }
    }

    /// Whether the failure is "no such thing" (404) rather than invalid
    /// content (422).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::UnknownVertical(_))
    }
}

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Pragmatic RFC 5322 subset: dot-atom local part, a domain with at
    // least one dot and a 2+ letter TLD. Quoted local parts are refused.
    Regex::new(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    )
    .expect("static e-mail pattern compiles")
});

/// Validates and normalises an e-mail address: trimmed, lower-cased domain.
pub fn parse_email(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.len() > 254 || !EMAIL_RE.is_match(s) {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.len() > 64 {
        return None;
    }
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// The duplicate-detection form of an e-mail: lower case, `+tag` removed,
/// and for Gmail the dots of the local part removed (Gmail ignores them).
pub fn dedupe_email(email: &str) -> String {
    let lower = email.to_ascii_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let local = local.split('+').next().unwrap_or(local);
    let local =
        if domain == "gmail.com" || domain == "googlemail.com" { local.replace('.', "") } else { local.to_owned() };
    let domain = if domain == "googlemail.com" { "gmail.com" } else { domain };
    format!("{local}@{domain}")
}

/// International calling code of a served country (without `+`).
fn calling_code(country: &str) -> Option<&'static str> {
    Some(match country {
        "US" | "CA" => "1",
        "MX" => "52",
        "BR" => "55",
        "CO" => "57",
        "AR" => "54",
        "CL" => "56",
        "PE" => "51",
        "EC" => "593",
        "GB" => "44",
        "DE" => "49",
        "FR" => "33",
        "AU" => "61",
        "IN" => "91",
        "JP" => "81",
        "KR" => "82",
        "SG" => "65",
        "AE" => "971",
        "ZA" => "27",
        "NG" => "234",
        "KE" => "254",
        "GH" => "233",
        "EG" => "20",
        "TZ" => "255",
        "MA" => "212",
        _ => return None,
    })
}

/// Validates a phone number and normalises it to E.164 (`+15551234567`).
///
/// Accepts `+`-prefixed international numbers, and national numbers of the
/// lead's country (a leading trunk `0` is dropped; NANP numbers may be 10
/// digits or 11 starting with `1`). Separators ` -.()` are ignored.
pub fn parse_phone(raw: &str, country: &str) -> Option<String> {
    let s = raw.trim();
    let international = s.starts_with('+');
    let body = if international { &s[1..] } else { s };
    if !body.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
        return None;
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    let e164 = if international {
        digits
    } else {
        let cc = calling_code(country)?;
        if cc == "1" {
            match digits.len() {
                10 => format!("1{digits}"),
                11 if digits.starts_with('1') => digits,
                _ => return None,
            }
        } else {
            let national = digits.strip_prefix('0').unwrap_or(&digits);
            format!("{cc}{national}")
        }
    };
    // E.164: at most 15 digits; no real number is shorter than 8.
    if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
        return None;
    }
    if let Some(nanp) = e164.strip_prefix('1') {
        // NANP: area code and exchange never start with 0 or 1.
        let b = nanp.as_bytes();
        if b.len() != 10 || b[0] < b'2' || b[3] < b'2' {
            return None;
        }
    }
    Some(format!("+{e164}"))
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Checks a submission against the catalogue (SPEC §4.1 steps 1–4).
pub fn validate(catalog: &Catalog, sub: &LeadSubmission, now: DateTime<Utc>) -> Result<ValidLead, LeadError> {
    // 1. vertical exists and is active.
    let vertical = catalog.get(sub.vertical.trim()).ok_or_else(|| LeadError::UnknownVertical(sub.vertical.clone()))?;
    if vertical.def.status != VerticalStatus::Active {
        return Err(LeadError::VerticalNotActive {
            slug: vertical.def.slug.clone(),
            status: vertical.def.status.as_str(),
        });
    }
    let source = Source::parse(sub.source.trim()).ok_or(LeadError::InvalidSource)?;

    // 2. fields match the schema (needs the country for phones and zips, so
    // the geo is parsed first but its errors are reported after the fields').
    let geo_result = geo::validate(&sub.geo);
    let country =
        geo_result.as_ref().map(|g| g.country.clone()).unwrap_or_else(|_| sub.geo.country.trim().to_ascii_uppercase());
    // A national-format phone or a zip field cannot be checked without a
    // known country: then the geo error is the one to report.
    let country_error = geo_result.as_ref().err().filter(|e| matches!(e, GeoError::UnknownCountry(_)));
    let (public_fields, pii_fields, contacts) =
        check_fields(vertical, &sub.fields, &country).map_err(|e| match (&e, country_error) {
            (LeadError::InvalidPhone(_) | LeadError::InvalidZip(_), Some(g)) => LeadError::Geo(g.clone()),
            _ => e,
        })?;

    // 3. geo valid and not restricted.
    let geo = geo_result?;
    if vertical.is_restricted(&geo.country, geo.region.as_deref()) {
        let g = match &geo.region {
            Some(r) => format!("{}-{r}", geo.country),
            None => geo.country.clone(),
        };
        return Err(LeadError::RestrictedGeo { slug: vertical.def.slug.clone(), geo: g });
    }

    // 4. consent.
    let consent = match &sub.consent {
        Some(c) => {
            if c.tcpa_at > now + CONSENT_MAX_SKEW {
                return Err(LeadError::ConsentInFuture);
            }
            if vertical.compliance.requires_tcpa && now - c.tcpa_at > CONSENT_MAX_AGE {
                return Err(LeadError::ConsentExpired);
            }
            let text = c.text.as_ref().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
            if text.as_ref().is_some_and(|t| t.chars().count() > 5_000) {
                return Err(LeadError::InvalidConsent("consent.text is at most 5 000 characters"));
            }
            let proof_url = c.proof_url.as_ref().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
            if proof_url
                .as_ref()
                .is_some_and(|u| u.len() > 2_048 || !(u.starts_with("https://") || u.starts_with("http://")))
            {
                return Err(LeadError::InvalidConsent(
                    "consent.proof_url must be an http(s) URL of at most 2 048 characters",
                ));
            }
            Some(Consent { tcpa_at: c.tcpa_at, text, proof_url })
        }
        None if vertical.compliance.requires_tcpa => return Err(LeadError::ConsentRequired),
        None => None,
    };

    if let Some(a) = &sub.attribution {
        let vals = [&a.utm_source, &a.utm_medium, &a.utm_campaign, &a.utm_term, &a.utm_content, &a.click_id];
        if vals.iter().any(|v| v.as_ref().is_some_and(|s| s.chars().count() > 500)) {
            return Err(LeadError::InvalidAttribution);
        }
    }

    Ok(ValidLead {
        vertical: vertical.def.slug.clone(),
        root_vertical: vertical.root.clone(),
        geo,
        has_phone: contacts.phone.is_some(),
        has_email: contacts.email.is_some(),
        public_fields,
        pii_fields,
        source,
        consent,
        contacts,
        ask_id: sub.ask_id,
        attribution: sub.attribution.clone(),
    })
}

type SplitFields = (Map<String, Value>, BTreeMap<String, Value>, Contacts);

fn check_fields(vertical: &Vertical, fields: &Map<String, Value>, country: &str) -> Result<SplitFields, LeadError> {
    // Unknown keys first: they are the most common client bug.
    let mut unknown: Vec<&String> = fields.keys().filter(|k| vertical.field(k).is_none()).collect();
    unknown.sort();
    if let Some(k) = unknown.first() {
        return Err(LeadError::UnknownField((*k).clone()));
    }
    let mut public = Map::new();
    let mut pii = BTreeMap::new();
    let mut contacts = Contacts::default();
    for def in &vertical.fields {
        let key = def.key.as_str();
        let value = match fields.get(key) {
            Some(v) if !is_blank(v) => v,
            _ if def.required => return Err(LeadError::MissingField(key.to_owned())),
            _ => continue,
        };
        let type_err = |expected| LeadError::InvalidFieldType { key: key.to_owned(), expected };
        let normalised = match def.kind {
            FieldType::Text => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?.trim();
                if s.chars().count() > MAX_TEXT_LEN {
                    return Err(LeadError::OutOfRange {
                        key: key.to_owned(),
                        detail: format!("at most {MAX_TEXT_LEN} characters"),
                    });
                }
                Value::String(s.to_owned())
            }
            FieldType::Number => {
                let n = value.as_f64().filter(|n| n.is_finite()).ok_or_else(|| type_err("a number"))?;
                if def.min.is_some_and(|m| n < m) || def.max.is_some_and(|m| n > m) {
                    return Err(LeadError::OutOfRange {
                        key: key.to_owned(),
                        detail: format!(
                            "must be between {} and {}",
                            def.min.map_or("-∞".into(), |m| m.to_string()),
                            def.max.map_or("∞".into(), |m| m.to_string())
                        ),
                    });
                }
                value.clone()
            }
            FieldType::Boolean => Value::Bool(value.as_bool().ok_or_else(|| type_err("true or false"))?),
            FieldType::Select => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?.trim();
                if !def.options.iter().any(|o| o == s) {
                    return Err(LeadError::InvalidOption { key: key.to_owned(), options: def.options.join(", ") });
                }
                Value::String(s.to_owned())
            }
            FieldType::Email => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?;
                let e = parse_email(s).ok_or_else(|| LeadError::InvalidEmail(key.to_owned()))?;
                if contacts.email.is_none() {
                    contacts.email = Some(dedupe_email(&e));
                }
                Value::String(e)
            }
            FieldType::Phone => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?;
                let p = parse_phone(s, country).ok_or_else(|| LeadError::InvalidPhone(key.to_owned()))?;
                if contacts.phone.is_none() {
                    contacts.phone = Some(p.clone());
                }
                Value::String(p)
            }
            FieldType::Date => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?.trim();
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| LeadError::InvalidDate(key.to_owned()))?;
                Value::String(d.format("%Y-%m-%d").to_string())
            }
            FieldType::Zip => {
                let s = value.as_str().ok_or_else(|| type_err("a string"))?;
                let probe =
                    GeoInput { country: country.to_owned(), postal_code: Some(s.to_owned()), ..GeoInput::default() };
                let g = geo::validate(&probe).map_err(|_| LeadError::InvalidZip(key.to_owned()))?;
                Value::String(g.postal_code.unwrap_or_default())
            }
        };
        if def.pii {
            pii.insert(key.to_owned(), normalised);
        } else {
            public.insert(key.to_owned(), normalised);
        }
    }
    Ok((public, pii, contacts))
}

/// keccak-256 of the canonical JSON of the PII (keys sorted, no spaces).
pub fn pii_hash(pii: &BTreeMap<String, Value>) -> [u8; 32] {
    let canonical = canonical_json(&Value::Object(pii.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    keccak256(canonical.as_bytes())
}

/// Serialises with object keys sorted at every level, whatever the map
/// implementation, so the hash does not depend on insertion order.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// keccak-256 (the Ethereum hash, not SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    use tiny_keccak::{Hasher, Keccak};
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(parse_phone("(415) 555-2671", "US").as_deref(), Some("+14155552671"));
        assert_eq!(parse_phone("1-415-555-2671", "US").as_deref(), Some("+14155552671"));
        assert_eq!(parse_phone("+44 20 7946 0958", "US").as_deref(), Some("+442079460958"));
        assert_eq!(parse_phone("020 7946 0958", "GB").as_deref(), Some("+442079460958"));
        assert_eq!(parse_phone("555-2671", "US"), None);
        assert_eq!(parse_phone("(015) 555-2671", "US"), None);
        assert_eq!(parse_phone("415x5552671", "US"), None);
        assert_eq!(parse_phone("+1234567890123456", "US"), None);
    }

    #[test]
    fn emails_validate_and_dedupe() {
        assert_eq!(parse_email(" Jane.Doe@Example.COM ").as_deref(), Some("Jane.Doe@example.com"));
        assert_eq!(parse_email("no-at-sign"), None);
        assert_eq!(parse_email("a@b"), None);
        assert_eq!(parse_email("a b@c.com"), None);
        assert_eq!(dedupe_email("J.Doe+promo@GoogleMail.com"), "jdoe@gmail.com");
        assert_eq!(dedupe_email("j.doe+x@example.com"), "j.doe@example.com");
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}});
        assert_eq!(canonical_json(&v), r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#);
        assert_eq!(hex_of(&keccak256(b"")), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    }

    fn catalog() -> Catalog {
        Catalog::new(crate::catalog::seed()).expect("seed catalogue is valid")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z").map(|t| t.with_timezone(&Utc)).expect("valid time")
    }

    fn submission() -> LeadSubmission {
        serde_json::from_value(serde_json::json!({
            "vertical": "solar.residential",
            "geo": {"country": "us", "region": "ca", "postal_code": "90210", "city": "Beverly Hills"},
            "fields": {
                "full_name": " Jane Doe ", "email": "Jane.Doe+ads@Example.com", "phone": "(415) 555-2671",
                "own_or_rent": "own", "roof_type": "asphalt_shingle", "electric_bill": "200_300",
                "timeline": "within_1_month", "sqft": 1800
            },
            "source": "form",
            "consent": {"tcpa_at": "2026-11-29T10:00:00Z", "text": "I agree", "proof_url": "https://cert.example/1"}
        }))
        .expect("well-formed submission")
    }

    #[test]
    fn a_valid_submission_is_normalised_and_split() {
        let v = validate(&catalog(), &submission(), now()).expect("valid");
        assert_eq!(v.vertical, "solar.residential");
        assert_eq!(v.root_vertical, "solar");
        assert_eq!(v.geo.country, "US");
        assert_eq!(v.geo.region.as_deref(), Some("CA"));
        assert_eq!(v.pii_fields["full_name"], "Jane Doe");
        assert_eq!(v.pii_fields["phone"], "+14155552671");
        assert!(v.public_fields.get("email").is_none() && v.public_fields.get("phone").is_none());
        assert_eq!(v.public_fields["roof_type"], "asphalt_shingle");
        assert_eq!(v.contacts.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(v.contacts.phone.as_deref(), Some("+14155552671"));
        assert!(v.has_phone && v.has_email);
    }

    #[test]
    fn the_full_score_of_a_worked_example() {
        let v = validate(&catalog(), &submission(), now()).expect("valid");
        let s = crate::score::score(&v, now());
        // Consent 2 h old: 2 000. Region + ZIP + ZIP in CA: 2 000. Phone and
        // e-mail: 2 000. Five non-PII fields filled (own_or_rent, roof_type,
        // electric_bill, timeline, sqft): 2 000. Form: 2 000.
        assert_eq!(s.breakdown.consent_freshness, 2_000);
        assert_eq!(s.breakdown.geo_completeness, 2_000);
        assert_eq!(s.breakdown.contact_completeness, 2_000);
        assert_eq!(s.breakdown.field_richness, 2_000);
        assert_eq!(s.breakdown.source, 2_000);
        assert_eq!((s.value, s.tier), (10_000, crate::score::Tier::Premium));
    }

    #[test]
    fn each_check_fails_with_its_code_in_spec_order() {
        let cat = catalog();
        type Mutation = fn(&mut LeadSubmission);
        let cases: Vec<(&str, Mutation)> = vec![
            ("unknown_vertical", |s| s.vertical = "nope".into()),
            ("invalid_source", |s| s.source = "fax".into()),
            ("unknown_field", |s| {
                s.fields.insert("colour".into(), Value::from("red"));
            }),
            ("missing_field", |s| {
                s.fields.remove("roof_type");
            }),
            ("invalid_option", |s| {
                s.fields.insert("roof_type".into(), Value::from("straw"));
            }),
            ("invalid_field_type", |s| {
                s.fields.insert("sqft".into(), Value::from("big"));
            }),
            ("invalid_email", |s| {
                s.fields.insert("email".into(), Value::from("jane@"));
            }),
            ("invalid_phone", |s| {
                s.fields.insert("phone".into(), Value::from("123"));
            }),
            ("postal_region_mismatch", |s| s.geo.region = Some("NY".into())),
            ("unknown_country", |s| s.geo.country = "ZZ".into()),
            ("consent_required", |s| s.consent = None),
            ("consent_expired", |s| {
                if let Some(c) = s.consent.as_mut() {
                    c.tcpa_at -= Duration::days(31);
                }
            }),
        ];
        for (code, mutate) in cases {
            let mut sub = submission();
            mutate(&mut sub);
            let err = validate(&cat, &sub, now()).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
        // A schema error is reported before a geo error.
        let mut sub = submission();
        sub.geo.region = Some("ZZ".into());
        sub.fields.insert("roof_type".into(), Value::from("straw"));
        assert_eq!(validate(&cat, &sub, now()).map_err(|e| e.code()), Err("invalid_option"));
    }

    #[test]
    fn restricted_geos_are_refused() {
        let cat = catalog();
        let Some(v) = cat.iter().find(|v| !v.compliance.restricted_geos.is_empty()) else {
            return;
        };
        let geo = v.compliance.restricted_geos[0].clone();
        assert!(v.is_restricted(geo.split('-').next().unwrap_or(""), geo.split('-').nth(1)));
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
