//! Walks over an expression that know how deep inside subqueries they are: a subquery's own
//! expressions belong to it, so aggregate, window and correlation analysis of one query block
//! look at depth 0 only (or treat deeper expressions differently).

use sqlparser::ast::{self as pg, Expr};
use std::ops::ControlFlow;

/// Calls `f` on every expression under `node` (pre-order) with the number of subqueries it is
/// inside; `f` breaking stops the walk.
pub(super) fn with_depth<V: pg::Visit + ?Sized>(
    node: &V,
    f: impl FnMut(&Expr, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    struct Walk<F> {
        f: F,
        depth: usize,
    }
    impl<F: FnMut(&Expr, usize) -> ControlFlow<()>> pg::Visitor for Walk<F> {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &pg::Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &pg::Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            (self.f)(e, self.depth)
        }
    }
    node.visit(&mut Walk { f, depth: 0 })
}

/// Calls `f` on every expression of `e` outside its subqueries, after its children (so `f` may
/// replace it); `f` breaking stops the walk with its value.
pub(super) fn replace_outside_subqueries<B>(
    e: &mut Expr,
    f: impl FnMut(&mut Expr) -> ControlFlow<B>,
) -> ControlFlow<B> {
    struct Walk<F> {
        f: F,
        depth: usize,
    }
    impl<B, F: FnMut(&mut Expr) -> ControlFlow<B>> pg::VisitorMut for Walk<F> {
        type Break = B;
        fn pre_visit_query(&mut self, _q: &mut pg::Query) -> ControlFlow<B> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &mut pg::Query) -> ControlFlow<B> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, x: &mut Expr) -> ControlFlow<B> {
            // A replaced subquery's own query was entered and left, so depth is back to 0 here.
            if self.depth == 0 {
                (self.f)(x)
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    pg::VisitMut::visit(e, &mut Walk { f, depth: 0 })
}
