//! The glyph prototype of the font-character generator ([`crate::fonts`]): one anti-aliased rasterisation
//! per (character, font), which every image of that pair is drawn from (by [`crate::fonts`] in privsplit's
//! generation, by [`crate::figure_glyphs`] in the authors').

/// An anti-aliased glyph rasterised once per (character, font): coverage `[h, w]` in `[0, 1]`.
#[derive(Clone, Debug)]
pub(crate) struct Prototype {
    pub(crate) w: usize,
    pub(crate) h: usize,
    pub(crate) coverage: Vec<f32>,
    /// Centre of mass, index coordinates (x = column, y = row).
    pub(crate) com: (f32, f32),
}
