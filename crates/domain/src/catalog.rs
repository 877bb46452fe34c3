//! Seed catalogue (placeholder, being written).
use crate::vertical::VerticalDef;
/// The seeded verticals.
pub fn seed() -> Vec<VerticalDef> {
    Vec::new()
}
