//! Synthetic leads that pass validation, for the demo, tests and load
//! generation. Contacts are unique per `seq`, so a stream of them never
//! trips duplicate detection.

use chrono::{DateTime, Duration, Utc};
use leadex_domain::vertical::{FieldType, Vertical};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

/// US (state, ZIP) pairs whose ZIP prefix lies in the state.
const US_PLACES: &[(&str, &str, &str)] = &[
    ("CA", "90210", "Beverly Hills"),
    ("CA", "94105", "San Francisco"),
    ("NY", "10001", "New York"),
    ("TX", "77002", "Houston"),
    ("TX", "78701", "Austin"),
    ("FL", "33101", "Miami"),
    ("IL", "60601", "Chicago"),
    ("WA", "98101", "Seattle"),
    ("MA", "02108", "Boston"),
    ("AZ", "85004", "Phoenix"),
    ("CO", "80202", "Denver"),
    ("GA", "30303", "Atlanta"),
    ("NV", "89101", "Las Vegas"),
    ("NJ", "07102", "Newark"),
    ("NC", "27601", "Raleigh"),
];

const FIRST: &[&str] = &["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jonah"];
const LAST: &[&str] = &["Silva", "Okafor", "Nguyen", "Kowalski", "Garcia", "Haddad", "Smith", "Tanaka"];

/// A valid submission body for vertical `v`. `seq` makes the phone and
/// e-mail unique; `tag` distinguishes runs (e.g. a random word).
pub fn lead_body(v: &Vertical, seq: u64, tag: &str, now: DateTime<Utc>, rng: &mut impl Rng) -> Value {
    let places: Vec<_> = US_PLACES.iter().filter(|(st, _, _)| !v.is_restricted("US", Some(st))).collect();
    let (region, zip, city) = places.choose(rng).map_or(("CA", "90210", "Beverly Hills"), |p| (p.0, p.1, p.2));
    let mut fields = Map::new();
    let first = FIRST.choose(rng).copied().unwrap_or("Ana");
    let last = LAST.choose(rng).copied().unwrap_or("Smith");
    for f in &v.fields {
        // Optional non-contact fields are filled most of the time.
        let contact = matches!(f.kind, FieldType::Email | FieldType::Phone) || f.key == "full_name";
        if !f.required && !contact && rng.gen_bool(0.3) {
            continue;
        }
        let value = match f.kind {
            FieldType::Email => {
                json!(format!("{}.{}.{tag}.{seq}@example.com", first.to_lowercase(), last.to_lowercase()))
            }
            FieldType::Phone => {
                // NANP: area and exchange start with 2–9; 8 × 10⁶ numbers per
                // area code. The tag picks the starting area code so separate
                // runs (same database, new tag) rarely collide.
                let offset = tag.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                let area = 200 + (offset + seq / 8_000_000) % 800;
                let line = 2_000_000 + seq % 8_000_000;
                json!(format!("+1{area}{line}"))
            }
            FieldType::Text if f.key == "full_name" => json!(format!("{first} {last}")),
            FieldType::Text => json!(format!("{} {}", f.label, seq % 97)),
            FieldType::Select => json!(f.options.choose(rng).cloned().unwrap_or_default()),
            FieldType::Boolean => json!(rng.gen_bool(0.5)),
            FieldType::Number => {
                let lo = f.min.unwrap_or(0.0).ceil() as i64;
                let hi = f.max.unwrap_or(1_000.0).floor() as i64;
                json!(if hi > lo { rng.gen_range(lo..=hi) } else { lo })
            }
            FieldType::Date => json!((now - Duration::days(rng.gen_range(1..60))).format("%Y-%m-%d").to_string()),
            FieldType::Zip => json!(zip),
        };
        fields.insert(f.key.clone(), value);
    }
    let sources = ["form", "form", "partner", "api", "call"];
    json!({
        "vertical": v.def.slug,
        "geo": {"country": "US", "region": region, "postal_code": zip, "city": city},
        "fields": fields,
        "source": sources.choose(rng).copied().unwrap_or("form"),
        "consent": {
            "tcpa_at": (now - Duration::minutes(rng.gen_range(1..2_000))).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "text": "I agree to be contacted about my request, including by automated calls and texts.",
            "proof_url": format!("https://cert.trustedform.com/{tag}{seq:x}")
        },
        "attribution": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "demo"}
    })
}
