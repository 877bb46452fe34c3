//! Geo registry (placeholder, being written).
