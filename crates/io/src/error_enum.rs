//! The error enum shape that the privsplit libraries share.

/// Declares a library crate's error enum with the two variants every privsplit library shares, then
/// the crate's own variants.
///
/// The shared variants:
/// - `Invalid { what, expected, got }` (all `String`), shown as `"{what}: expected {expected}, got
///   {got}"`: an argument, a setting, a tensor (shape `[batch, channels, height, width]` or another) or a
///   file does not have the expected form. Bad input is reported with this variant, never with a panic.
/// - `Io { path, source }` (`PathBuf`, `std::io::Error`), shown as `"{path}: {source}"`, or with the
///   message given as `io = "...";` before the enum (a `thiserror` format string over `path` and
///   `source`).
///
/// The caller writes `#[derive(Debug, thiserror::Error)]` on the enum (the derive must come from the
/// calling crate: `thiserror`'s generated bindings take the hygiene of the derive's call site, and one
/// written inside this macro would not see those of `#[error(transparent)]` variants). The macro adds
/// `#[non_exhaustive]`. The crate's own variants follow, written as in any `thiserror` enum.
///
/// ```
/// privsplit_io::error_enum! {
///     /// Errors of an example crate.
///     #[derive(Debug, thiserror::Error)]
///     pub enum Error {
///         /// A network peer went away.
///         #[error("peer {peer} closed the connection")]
///         Closed {
///             /// The peer's address.
///             peer: String,
///         },
///         /// An atomic write failed.
///         #[error(transparent)]
///         Write(#[from] privsplit_io::Error),
///     }
/// }
/// let e = Error::Invalid { what: "--points".into(), expected: "an integer".into(), got: "two".into() };
/// assert_eq!(e.to_string(), "--points: expected an integer, got two");
/// let e = Error::Io { path: "/nowhere".into(), source: std::io::Error::other("gone") };
/// assert_eq!(e.to_string(), "/nowhere: gone");
/// let e = Error::from(privsplit_io::write_atomic(std::path::Path::new("/"), b"x").unwrap_err());
/// assert_eq!(e.to_string(), "/: expected a path ending in a file name");
/// ```
#[macro_export]
macro_rules! error_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($own:tt)* }
    ) => {
        $crate::error_enum! {
            io = "{path}: {source}";
            $(#[$meta])*
            $vis enum $name { $($own)* }
        }
    };
    (
        io = $io:tt;
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($own:tt)* }
    ) => {
        $(#[$meta])*
        #[non_exhaustive]
        $vis enum $name {
            /// An argument, a setting, a tensor or a file does not have the expected form.
            #[error("{what}: expected {expected}, got {got}")]
            Invalid {
                /// What was checked (an input name, a setting as the user wrote it, a layer, a file).
                what: String,
                /// What was expected (the accepted values or form).
                expected: String,
                /// What was found.
                got: String,
            },
            /// An I/O operation on `path` failed.
            #[error($io)]
            Io {
                /// The file or folder involved.
                path: ::std::path::PathBuf,
                /// What the operating system reported.
                source: ::std::io::Error,
            },
            $($own)*
        }
    };
}
