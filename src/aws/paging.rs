//! Guards for paged listings. A listing ends only when AWS says it is complete: a marker that
//! comes back a second time, or more pages than any real account or Organization has, fails
//! the listing with a code of its own instead of looping until the poll times out, and never
//! passes for a complete answer.

use std::collections::HashSet;

use crate::error::Error;

/// Where a paged listing stands, one call per page.
#[derive(Debug)]
pub struct Pages {
    operation: &'static str,
    cap: usize,
    fetched: usize,
    seen: HashSet<String>,
}

impl Pages {
    /// A listing by `operation` that may take at most `cap` pages.
    pub fn new(operation: &'static str, cap: usize) -> Pages {
        Pages {
            operation,
            cap,
            fetched: 0,
            seen: HashSet::new(),
        }
    }

    /// Records one page and the marker it returned for the next: `Ok(None)` when the listing is
    /// complete, `Ok(Some(marker))` to fetch the next page, an error when the listing cannot be
    /// trusted to end.
    ///
    /// `more` is whether AWS said there are more pages (`IsTruncated`, or a `NextToken`).
    pub fn next(&mut self, more: bool, marker: Option<&str>) -> Result<Option<String>, Error> {
        self.fetched += 1;
        if !more {
            return Ok(None);
        }
        let Some(marker) = marker.filter(|m| !m.is_empty()) else {
            return Err(self.error(
                "incomplete_response",
                "the answer says there are more pages but gives no marker".into(),
            ));
        };
        if !self.seen.insert(marker.to_owned()) {
            return Err(self.error(
                "pagination_loop",
                format!(
                    "page {} repeats a marker already followed: the listing would never end",
                    self.fetched
                ),
            ));
        }
        if self.fetched >= self.cap {
            return Err(self.error(
                "page_limit",
                format!(
                    "still more pages after {} pages, the most this exporter follows",
                    self.cap
                ),
            ));
        }
        Ok(Some(marker.to_owned()))
    }

    fn error(&self, code: &'static str, what: String) -> Error {
        Error::Paging {
            operation: self.operation,
            code,
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<Option<String>, Error>) -> Result<Option<String>, &'static str> {
        result.map_err(|e| e.code())
    }

    #[test]
    fn a_listing_ends_only_when_aws_says_so() {
        let mut pages = Pages::new("ListVirtualMFADevices", 3);
        assert_eq!(code(pages.next(true, Some("a"))), Ok(Some("a".into())));
        assert_eq!(code(pages.next(true, Some("b"))), Ok(Some("b".into())));
        assert_eq!(code(pages.next(false, None)), Ok(None));

        let mut looping = Pages::new("ListAccounts", 100);
        assert_eq!(code(looping.next(true, Some("a"))), Ok(Some("a".into())));
        assert_eq!(code(looping.next(true, Some("b"))), Ok(Some("b".into())));
        // Not only the marker just followed: any marker seen before.
        assert_eq!(code(looping.next(true, Some("a"))), Err("pagination_loop"));

        let mut endless = Pages::new("ListAccounts", 3);
        assert_eq!(code(endless.next(true, Some("1"))), Ok(Some("1".into())));
        assert_eq!(code(endless.next(true, Some("2"))), Ok(Some("2".into())));
        assert_eq!(code(endless.next(true, Some("3"))), Err("page_limit"));

        let mut no_marker = Pages::new("ListVirtualMFADevices", 3);
        assert_eq!(code(no_marker.next(true, None)), Err("incomplete_response"));
        assert_eq!(
            code(Pages::new("x", 3).next(true, Some(""))),
            Err("incomplete_response")
        );
    }
}
