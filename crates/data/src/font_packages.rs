//! Fonts that come from Debian packages (installed by `scripts/install-deps.sh`), referred to by a short
//! name in [`crate::FontCharConfig::fonts`].
//!
//! They stand in for the two fonts of Ryffel et al.'s dataset (public repository, tutorial part 1:
//! matplotlib's generic `'cursive'` and `'Georgia'` on the authors' macOS):
//!
//! - `urw-z003`: URW **Z003** Medium Italic (`fonts-urw-base35`), a Zapf Chancery design, the chancery
//!   script family of Apple Chancery (what `'cursive'` resolves to on macOS).
//! - `vollkorn`: **Vollkorn** Regular (`fonts-vollkorn`) for Georgia. Gelasio, the free font
//!   metric-compatible with Georgia, is packaged neither by Debian nor on PyPI (only as web fonts on npm),
//!   so the closest packaged serif was chosen: like Georgia, Vollkorn is a sturdy text serif with a large
//!   x-height (0.458 em; Georgia 0.481) and **old-style figures by default** (0, 1, 2 at about x-height,
//!   3, 4, 5, 7, 9 descending about 0.17 em, 6 and 8 ascending), which is what makes Georgia's digits
//!   differ in size and position from the chancery's lining figures. Measured from the packaged files
//!   with fontTools: EB Garamond, Goudy Bookletter and Linden Hill also have old-style figures but
//!   are lighter, Garalde designs with smaller x-heights.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A font shipped by a Debian package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageFont {
    /// Short name used in [`crate::FontCharConfig::fonts`].
    pub name: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
    /// The font file the package installs.
    pub path: &'static str,
}

/// The packaged fonts privsplit knows by name (see the module docs for why these two).
pub const PACKAGE_FONTS: [PackageFont; 2] = [
    PackageFont {
        name: "urw-z003",
        package: "fonts-urw-base35",
        path: "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
    },
    PackageFont {
        name: "vollkorn",
        package: "fonts-vollkorn",
        path: "/usr/share/fonts/truetype/vollkorn/Vollkorn-Regular.ttf",
    },
];

/// The packaged font called `name`, if there is one.
pub fn package_font(name: &str) -> Option<&'static PackageFont> {
    PACKAGE_FONTS.iter().find(|f| f.name == name)
}

/// The installed file of the packaged font `name`: `Ok(None)` when `name` is not a packaged font's name.
///
/// # Errors
/// [`Error::MissingFontPackage`] naming the font, its Debian package and the path looked at when the
/// package is not installed.
pub fn resolve(name: &str) -> Result<Option<PathBuf>> {
    resolve_under(name, Path::new("/"))
}

/// As [`resolve`], with the package paths taken relative to `root` instead of `/`.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_under(name: &str, root: &Path) -> Result<Option<PathBuf>> {
    let Some(f) = package_font(name) else {
        return Ok(None);
    };
    let path = root.join(f.path.trim_start_matches('/'));
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(Error::MissingFontPackage {
            font: f.name.into(),
            package: f.package.into(),
            path,
        })
    }
}
