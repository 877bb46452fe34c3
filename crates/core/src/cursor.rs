//! Opaque keyset cursors over `(created_at DESC, id DESC)`.
//!
//! A cursor names a position (the sort key of an item) and a direction:
//! `After` continues to older items (next page), `Before` goes back to newer
//! ones (previous page). Encoded as base64url so clients treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::AppError;

/// Largest page a client may ask for.
pub const MAX_LIMIT: u32 = 200;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;

/// Which way from the cursor position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Items sorting after the position (older): the next page.
    After,
    /// Items sorting before the position (newer): the previous page.
    Before,
}

/// A decoded cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the boundary item, µs since the epoch.
    pub created_at: i64,
    /// Id of the boundary item.
    pub id: Uuid,
    /// Direction.
    pub direction: Direction,
}

impl Cursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        let d = match self.direction {
            Direction::After => 'a',
            Direction::Before => 'b',
        };
        URL_SAFE_NO_PAD.encode(format!("{d}{}.{}", self.created_at, self.id.simple()))
    }

    /// Parses the opaque form; any tampering is a 400 `invalid_cursor`.
    pub fn decode(s: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_request("invalid_cursor", "cursor is not valid").with_field("cursor");
        let raw = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
        let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
        let direction = match text.chars().next() {
            Some('a') => Direction::After,
            Some('b') => Direction::Before,
            _ => return Err(bad()),
        };
        let (t, id) = text[1..].split_once('.').ok_or_else(bad)?;
        Ok(Self { created_at: t.parse().map_err(|_| bad())?, id: Uuid::parse_str(id).map_err(|_| bad())?, direction })
    }
}

/// What a list call asks of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1..=MAX_LIMIT.
    pub limit: u32,
    /// Position, `None` for the first page.
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor` as given on a query string.
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(AppError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_LIMIT}"))
                .with_field("limit"));
        }
        let cursor = cursor.filter(|c| !c.is_empty()).map(Cursor::decode).transpose()?;
        Ok(Self { limit, cursor })
    }

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, cursor: None }
    }
}

/// Something listed by keyset.
pub trait Keyed {
    /// `(created_at µs, id)`.
    fn sort_key(&self) -> (i64, Uuid);
}

/// A page of items, newest first, with cursors to either side.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next (older) page, if any.
    pub next_cursor: Option<String>,
    /// Cursor of the previous (newer) page, if any.
    pub prev_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Maps the items, keeping the cursors.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            prev_cursor: self.prev_cursor,
        }
    }
}

impl<T: Keyed> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in the direction of
    /// `req` (newest-first for `After`/first page, oldest-first for
    /// `Before`); the extra row only says whether more exist.
    pub fn from_rows(req: &PageRequest, mut rows: Vec<T>) -> Self {
        let limit = req.limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let backwards = matches!(req.cursor, Some(Cursor { direction: Direction::Before, .. }));
        if backwards {
            rows.reverse();
        }
        let cursor_at = |item: Option<&T>, direction| {
            item.map(|i| {
                let (created_at, id) = i.sort_key();
                Cursor { created_at, id, direction }.encode()
            })
        };
        let (has_next, has_prev) = match req.cursor {
            None => (more, false),
            Some(Cursor { direction: Direction::After, .. }) => (more, true),
            Some(Cursor { direction: Direction::Before, .. }) => (true, more),
        };
        Page {
            next_cursor: if has_next { cursor_at(rows.last(), Direction::After) } else { None },
            prev_cursor: if has_prev { cursor_at(rows.first(), Direction::Before) } else { None },
            items: rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { created_at: 1_764_000_000_000_000, id: Uuid::now_v7(), direction: Direction::Before };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
        for bad in ["", "!!", "eA", &URL_SAFE_NO_PAD.encode("a12.nothex")] {
            let e = Cursor::decode(bad).err().map(|e| e.code);
            assert_eq!(e, Some("invalid_cursor"), "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageRequest::parse(None, None).map(|p| p.limit).ok(), Some(50));
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(201), None).is_err());
        assert!(PageRequest::parse(Some(200), None).is_ok());
    }
}
