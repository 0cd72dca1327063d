//! Sample distance correlation of two batches, differentiable (the NoPeek penalty).
//!
//! Székely, Rizzo & Bakirov, "Measuring and testing dependence by correlation of distances", Annals of
//! Statistics 35(6), 2007, §2.2 (Definition 4, eqs. 2.8-2.10): for `n` paired rows `X_i` `[p]` and `Z_i`
//! `[q]`, with Euclidean distances `a_ij = |X_i - X_j|`, `b_ij = |Z_i - Z_j|` and their double centrings
//! `A_ij = a_ij - mean_j a_ij - mean_i a_ij + mean_ij a_ij` (likewise `B`):
//!
//! ```text
//! dCov²_n(X, Z) = (1/n²) Σ_ij A_ij B_ij,   dVar²_n(X) = dCov²_n(X, X),
//! dCor²_n(X, Z) = dCov²_n(X, Z) / sqrt(dVar²_n(X) dVar²_n(Z))   (0 when the denominator is 0),
//! ```
//!
//! and `dCor_n = sqrt(dCor²_n)` in `[0, 1]`. Population dCor is 0 exactly when `X` and `Z` are independent;
//! the sample value of independent rows is small and shrinks as `n` grows (about `1/sqrt(n)`). It is 1 when
//! `Z = a X R + b` (a scalar `a != 0`, an orthogonal `R`): the distances are proportional.
//!
//! NoPeek (Vepakomma, Singh, Gupta & Raskar, "NoPeek: Information leakage reduction to share activations in
//! distributed deep learning", ICDM Workshops 2020, §III) adds `alpha * dCor(x, f_k(x))` of the raw input
//! and the feature map at the partition point to the main loss.
//!
//! **Numerics.** Rows are centred on the batch mean first (distances do not change); squared distances come
//! from the Gram matrix (`|x_i|² + |x_j|² - 2 x_i·x_j`, clamped at 0) so that memory is `[n, n]`, not
//! `[n, n, p]`; the square root is taken of `d² + 1e-10` so that its gradient stays finite on the diagonal
//! (an error of at most 1e-5 per distance). The tests compare with a plain f64 implementation.

use burn::tensor::Tensor;

/// Added under the square root of every squared distance (see the module docs).
const DIST_EPS: f32 = 1e-10;

/// Double-centred pairwise Euclidean distances `A` `[n, n]` of the rows of `x` `[n, d]`.
fn centred_distances(x: Tensor<2>) -> Tensor<2> {
    let x = x.clone() - x.mean_dim(0);
    let sq = (x.clone() * x.clone()).sum_dim(1); // [n, 1]
    let gram = x.clone().matmul(x.transpose()); // [n, n]
    let d2 = (sq.clone() + sq.transpose() - gram.mul_scalar(2.0)).clamp_min(0.0);
    let a = d2.add_scalar(DIST_EPS).sqrt();
    let row = a.clone().mean_dim(1); // [n, 1]
    let col = a.clone().mean_dim(0); // [1, n]
    let all = a.clone().mean().reshape([1, 1]);
    a - row - col + all
}

/// Sample distance correlation `dCor_n(x, z)` in `[0, 1]` of the rows of `x` `[n, p]` and `z` `[n, q]`
/// (e.g. flattened images `[batch, channels * height * width]` and flattened feature maps), as a one-element
/// tensor that carries gradients to both (see the module docs for the formula and its source). `n >= 2`;
/// with `n < 2` the value is 0; when either side has no spread it is 0 up to f32 rounding (below 1e-3).
pub fn distance_correlation(x: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    if n < 2 || z.dims()[0] != n {
        return Tensor::<1>::zeros([1], &x.device());
    }
    let a = centred_distances(x);
    let b = centred_distances(z);
    let dcov = (a.clone() * b.clone()).mean();
    let vx = (a.clone() * a).mean();
    let vz = (b.clone() * b).mean();
    let denom = (vx * vz).sqrt();
    // dCor² = dCov² / denom, 0 when denom is 0; dCor = sqrt(max(dCor², 0)) (tiny negatives from rounding).
    let denom_ok = denom.clone().greater_elem(1e-20).float();
    let ratio = dcov / denom.clamp_min(1e-20) * denom_ok;
    ratio.clamp_min(0.0).add_scalar(1e-12).sqrt()
}
