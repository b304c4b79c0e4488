//! Window frames: which rows of its partition an aggregate, `first_value`, `last_value` or
//! `nth_value` sees for the current row. `ROWS` frames with `UNBOUNDED`, `n PRECEDING`,
//! `CURRENT ROW` and `n FOLLOWING` bounds, and `RANGE` frames with `UNBOUNDED` and `CURRENT ROW`
//! bounds (CURRENT ROW covers the row's peers), as in PostgreSQL and CockroachDB. Without a
//! frame clause the frame is `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW` (the whole
//! partition without ORDER BY, since every row is then a peer). `RANGE` with an offset and
//! `GROUPS` frames are 0A000; impossible frames are 42P20 and bad offsets 22004/22013, with
//! PostgreSQL's messages.

use super::*;

/// One edge of a frame, offsets evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edge {
    UnboundedPreceding,
    Preceding(usize),
    CurrentRow,
    Following(usize),
    UnboundedFollowing,
}

/// A frame clause as written (offsets still expressions).
#[derive(Clone, Debug)]
pub(in crate::sql::query) struct FrameSpec {
    rows: bool,
    start: pg::WindowFrameBound,
    end: pg::WindowFrameBound,
}

/// A frame with its offsets evaluated.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    rows: bool,
    start: Edge,
    end: Edge,
}

/// The frame clause of a window spec, checked (None: the default frame).
pub(super) fn spec(f: Option<&pg::WindowFrame>) -> Result<Option<FrameSpec>> {
    let Some(f) = f else { return Ok(None) };
    let rows = match f.units {
        pg::WindowFrameUnits::Rows => true,
        pg::WindowFrameUnits::Range => false,
        pg::WindowFrameUnits::Groups => {
            return Err(SqlError::unsupported("GROUPS window frames"));
        }
    };
    let end = f
        .end_bound
        .clone()
        .unwrap_or(pg::WindowFrameBound::CurrentRow);
    use pg::WindowFrameBound::{CurrentRow, Following, Preceding};
    let windowing = |m: &str| SqlError::new(SqlState("42P20"), m.to_string());
    match (&f.start_bound, &end) {
        (Following(None), _) => {
            return Err(windowing("frame start cannot be UNBOUNDED FOLLOWING"));
        }
        (_, Preceding(None)) => {
            return Err(windowing("frame end cannot be UNBOUNDED PRECEDING"));
        }
        (CurrentRow, Preceding(Some(_))) => {
            return Err(windowing(
                "frame starting from current row cannot have preceding rows",
            ));
        }
        (Following(Some(_)), Preceding(Some(_))) => {
            return Err(windowing(
                "frame starting from following row cannot have preceding rows",
            ));
        }
        (Following(Some(_)), CurrentRow) => {
            return Err(windowing(
                "frame starting from following row cannot end with current row",
            ));
        }
        _ => {}
    }
    if !rows
        && [&f.start_bound, &end]
            .iter()
            .any(|b| matches!(b, Preceding(Some(_)) | Following(Some(_))))
    {
        return Err(SqlError::unsupported(
            "RANGE window frames with an offset PRECEDING or FOLLOWING",
        ));
    }
    Ok(Some(FrameSpec {
        rows,
        start: f.start_bound.clone(),
        end,
    }))
}

impl Frame {
    /// `spec`'s frame with its offsets evaluated (the default frame for None).
    pub(super) fn resolve(spec: Option<&FrameSpec>, ectx: &EvalContext<'_>) -> Result<Frame> {
        let Some(spec) = spec else {
            return Ok(Frame {
                rows: false,
                start: Edge::UnboundedPreceding,
                end: Edge::CurrentRow,
            });
        };
        let edge = |b: &pg::WindowFrameBound, which: &str| -> Result<Edge> {
            let offset = |e: &Expr| -> Result<usize> {
                match expr::eval(e, None, ectx)? {
                    Datum::Int(n) if n >= 0 => Ok(n as usize),
                    Datum::Int(_) => Err(SqlError::new(
                        SqlState("22013"),
                        format!("frame {which} offset must not be negative"),
                    )),
                    Datum::Null => Err(SqlError::new(
                        SqlState("22004"),
                        format!("frame {which} offset must not be null"),
                    )),
                    other => Err(SqlError::new(
                        SqlState("42804"),
                        format!(
                            "argument of ROWS must be type int, not type {}",
                            other
                                .sql_type()
                                .map_or("unknown", |t| t.name())
                                .to_lowercase()
                        ),
                    )),
                }
            };
            Ok(match b {
                pg::WindowFrameBound::CurrentRow => Edge::CurrentRow,
                pg::WindowFrameBound::Preceding(None) => Edge::UnboundedPreceding,
                pg::WindowFrameBound::Following(None) => Edge::UnboundedFollowing,
                pg::WindowFrameBound::Preceding(Some(e)) => Edge::Preceding(offset(e)?),
                pg::WindowFrameBound::Following(Some(e)) => Edge::Following(offset(e)?),
            })
        };
        Ok(Frame {
            rows: spec.rows,
            start: edge(&spec.start, "starting")?,
            end: edge(&spec.end, "ending")?,
        })
    }

    /// The frame of row `j` of a partition of `n` rows as an inclusive index range (None when
    /// empty); `peers` is the row's peer group (first and last index).
    pub(super) fn bounds(
        &self,
        j: usize,
        n: usize,
        peers: (usize, usize),
    ) -> Option<(usize, usize)> {
        let start = match self.start {
            Edge::UnboundedPreceding => 0,
            Edge::Preceding(k) => j.saturating_sub(k),
            Edge::CurrentRow if self.rows => j,
            Edge::CurrentRow => peers.0,
            Edge::Following(k) => j.saturating_add(k),
            Edge::UnboundedFollowing => return None,
        };
        let end = match self.end {
            Edge::UnboundedFollowing => n - 1,
            Edge::Following(k) => j.saturating_add(k).min(n - 1),
            Edge::CurrentRow if self.rows => j,
            Edge::CurrentRow => peers.1,
            Edge::Preceding(k) => j.checked_sub(k)?,
            Edge::UnboundedPreceding => return None,
        };
        (start <= end && start < n).then_some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: bool, start: Edge, end: Edge) -> Frame {
        Frame { rows, start, end }
    }

    #[test]
    fn bounds_follow_the_edges() {
        use Edge::*;
        let n = 5;
        let peers = (1, 2);
        assert_eq!(
            frame(false, UnboundedPreceding, CurrentRow).bounds(1, n, peers),
            Some((0, 2))
        );
        assert_eq!(
            frame(true, UnboundedPreceding, CurrentRow).bounds(1, n, peers),
            Some((0, 1))
        );
        assert_eq!(
            frame(true, Preceding(1), Following(1)).bounds(0, n, peers),
            Some((0, 1))
        );
        assert_eq!(
            frame(true, Preceding(1), Following(1)).bounds(4, n, peers),
            Some((3, 4))
        );
        assert_eq!(
            frame(true, Following(1), Following(3)).bounds(4, n, peers),
            None
        );
        assert_eq!(
            frame(true, Preceding(3), Preceding(2)).bounds(1, n, peers),
            None
        );
        assert_eq!(
            frame(true, Preceding(3), Preceding(2)).bounds(4, n, peers),
            Some((1, 2))
        );
        assert_eq!(
            frame(false, CurrentRow, UnboundedFollowing).bounds(2, n, peers),
            Some((1, 4))
        );
    }
}
