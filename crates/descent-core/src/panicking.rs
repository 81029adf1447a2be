//! The panicking form of every fallible op, declared once.
//!
//! Every op that can fail is written once, as `try_<op>` returning [`Result`](crate::Result).
//! Its plain form `<op>` only unwraps that result, panicking with the error's message at the
//! caller's line (`#[track_caller]`), so it is not written by hand: [`panicking!`] declares it
//! from one line naming the `try_` form and its arguments, for [`Tensor`](crate::Tensor),
//! [`IntTensor`](crate::IntTensor) and [`Var`](crate::Var) alike.
//!
//! ```text
//! panicking! { Tensor, Var:
//!     /// Swaps two dimensions (a view).
//!     transpose = try_transpose(a: isize, b: isize) -> Self;
//! }
//! ```
//! expands, for each type listed, to
//! ```text
//! impl Tensor {
//!     /// Swaps two dimensions (a view).
//!     ///
//!     /// # Panics
//!     /// Where [`Tensor::try_transpose`] returns an error, with its message, at the caller's line.
//!     #[track_caller]
//!     pub fn transpose(&self, a: isize, b: isize) -> Self {
//!         crate::error::or_panic(self.try_transpose(a, b))
//!     }
//! }
//! ```

/// Declares the panicking forms of `try_` methods for one or more types; see the
/// [module docs](self).
macro_rules! panicking {
    ($($ty:ident),+: $($body:tt)*) => {
        $crate::panicking::panicking!(@each [$($ty),+] { $($body)* });
    };
    (@each [$($ty:ident),+] $body:tt) => {
        $( $crate::panicking::panicking!(@one $ty $body); )+
    };
    (@one $ty:ident { $(
        $(#[$doc:meta])*
        $name:ident = $try_name:ident ( $($arg:ident : $argty:ty),* ) -> $ret:ty;
    )* }) => {
        impl $ty {
            $(
                $(#[$doc])*
                ///
                /// # Panics
                #[doc = concat!(
                    "Where [`", stringify!($ty), "::", stringify!($try_name),
                    "`] returns an error, with its message, at the caller's line."
                )]
                #[track_caller]
                pub fn $name(&self, $($arg: $argty),*) -> $ret {
                    $crate::error::or_panic(self.$try_name($($arg),*))
                }
            )*
        }
    };
}
pub(crate) use panicking;
