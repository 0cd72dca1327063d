//! Sweep settings and the table of presets.
//!
//! | preset | model | data | attacks |
//! |---|---|---|---|
//! | [`SweepPreset::Fashion`] | small CNN (trained here) | Fashion-MNIST | c-GAN, inverse network, rMLE |
//! | [`SweepPreset::Tiny`] | small CNN at width 0.25 | Fashion-MNIST, fewer images | c-GAN, inverse network, rMLE |
//! | [`SweepPreset::Lite0`] | pretrained EfficientNet-Lite0 | packaged photographs (crops) | c-GAN, inverse network, rMLE |
//!
//! Every zoo architecture (`privsplit sweep --arch`): [`SweepConfig::imagenet`] for the ImageNet models
//! (attacker and evaluation crops from disjoint photographs, `privsplit_data::rgb`), the presets above
//! for the small CNN.

use privsplit_attacks::cgan::CganConfig;
use privsplit_attacks::decoder::DecoderConfig;
use privsplit_attacks::inverse::AttackTrainConfig;
use privsplit_attacks::rmle::{InputNorm, RmleConfig};
use privsplit_attacks::ReconstructionAttack;
use privsplit_models::classifier::ClassifierTrainConfig;
use privsplit_models::device::DeviceChoice;
use privsplit_models::zoo::ArchConfig;
use serde::{Deserialize, Serialize};

use super::enclave::EnclaveConfig;
use super::rule::RuleConfig;
use crate::{Error, Result};

/// A named sweep configuration (see the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SweepPreset {
    /// Small CNN on Fashion-MNIST, all three attacks: [`SweepConfig::fashion_mnist`].
    Fashion,
    /// The same at a quarter width with few images (about a minute): [`SweepConfig::tiny`].
    Tiny,
    /// Pretrained EfficientNet-Lite0, all three attacks on natural photographs: [`SweepConfig::lite0`].
    Lite0,
}

/// Input size (pixels) of the `lite0` preset unless given: small enough for a CPU.
pub const LITE0_DEFAULT_SIZE: usize = 96;

impl SweepPreset {
    /// Every preset.
    pub const ALL: [Self; 3] = [Self::Fashion, Self::Tiny, Self::Lite0];

    /// The serde / command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fashion => "fashion",
            Self::Tiny => "tiny",
            Self::Lite0 => "lite0",
        }
    }

    /// The configuration; `input_size` applies to `lite0` only (`None`: [`LITE0_DEFAULT_SIZE`]).
    pub fn config(self, input_size: Option<usize>) -> SweepConfig {
        match self {
            Self::Fashion => SweepConfig::fashion_mnist(),
            Self::Tiny => SweepConfig::tiny(),
            Self::Lite0 => SweepConfig::lite0(input_size.unwrap_or(LITE0_DEFAULT_SIZE)),
        }
    }

    /// Whether the preset attacks a pretrained model on natural photographs (else it trains on
    /// Fashion-MNIST).
    pub fn natural_images(self) -> bool {
        matches!(self, Self::Lite0)
    }
}

impl std::str::FromStr for SweepPreset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::invalid("sweep preset", "fashion, tiny or lite0", s))
    }
}

/// Everything a sweep needs besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// The model.
    pub arch: ArchConfig,
    /// Partition points to evaluate (`None`: all, `0..=n`).
    pub points: Option<Vec<usize>>,
    /// Attacks to run at each point.
    pub attacks: Vec<ReconstructionAttack>,
    /// Training of the victim classifier (when the sweep trains it).
    pub classifier: ClassifierTrainConfig,
    /// Attacker dataset size (images disjoint from the evaluation images).
    pub attacker_images: usize,
    /// Evaluation images (victims) for the black-box attacks.
    pub eval_images: usize,
    /// Evaluation images for rMLE (the first ones; rMLE optimises per image and is slower).
    pub rmle_images: usize,
    /// Inverse-network training.
    pub inverse: AttackTrainConfig,
    /// c-GAN training.
    pub cgan: CganConfig,
    /// rMLE optimisation.
    pub rmle: RmleConfig,
    /// Input normalisation between pixels and the model input.
    pub norm: InputNorm,
    /// SSIM threshold in `[0, 1]` of the threshold rule (and of attacks without leakage statistics).
    pub ssim_threshold: f64,
    /// The safety rule, the objective and the leakage statistics' settings.
    #[serde(default)]
    pub rule: RuleConfig,
    /// The enclave cost model.
    #[serde(default)]
    pub enclave: EnclaveConfig,
    /// Where the victim's weights came from (set by the sweep job; `None` in older reports). Reports of
    /// [`ModelWeights::Untrained`] models say UNTRAINED in every output.
    #[serde(default)]
    pub weights: Option<ModelWeights>,
    /// The seed given with `--seed` (it overrode every seed of the sweep, see [`SweepConfig::with_seed`]);
    /// `None`: the preset's own seeds.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The ONNX model attacked instead of `arch` (`privsplit sweep --onnx`); `arch` is then unused.
    #[serde(default)]
    pub onnx: Option<OnnxSpec>,
    /// Whether the black-box attacks (c-GAN, inverse network) standardise the feature maps first: per
    /// channel, `(x - mean) / std` with the mean and standard deviation of the attacker's own feature maps
    /// (an invertible affine map the attacker can compute, so the information is unchanged). On for ONNX
    /// sweeps ([`SweepConfig::onnx`]: an arbitrary graph's activations can be of any scale; the `onnx`
    /// wheel's constant-weight light graphs reach 1e7 and beyond, where the decoders' training diverges),
    /// off for the zoo presets (batch-normalised features; their recorded results were measured without).
    #[serde(default)]
    pub standardise_features: bool,
    /// Reconstructions kept per attack and point for the grid.
    pub grid_images: usize,
    /// Timed repetitions per partition for the latency (median reported).
    pub latency_reps: usize,
    /// Where the victim classifier and every attack (c-GAN, inverse network, rMLE) train (`--device`;
    /// default `flex`, the CPU). The partition latencies are timed on it too.
    #[serde(default)]
    pub device: DeviceChoice,
}

/// Where the weights of a swept model came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelWeights {
    /// Trained by the sweep itself (Fashion-MNIST presets).
    TrainedHere,
    /// Loaded from a file (privsplit safetensors or a PyTorch / torchvision state dict).
    File {
        /// The file as given.
        path: String,
    },
    /// Seeded random weights (`privsplit_models::train::seeded_init`): an UNTRAINED model, whose
    /// sweep measures the architecture, not what a trained model leaks.
    Untrained {
        /// The initialisation seed.
        seed: u64,
    },
    /// The weights inside an ONNX file (`privsplit sweep --onnx`).
    Onnx {
        /// The file as given.
        path: String,
        /// Every convolution / matrix-product weight is a constant fill
        /// (`privsplit_onnx::OnnxModel::synthetic_weights`), as in the `onnx` wheel's `light_*.onnx` test
        /// graphs: SYNTHETIC weights, whose sweep measures the graph's architecture, not what a trained
        /// model leaks.
        synthetic: bool,
    },
}

impl ModelWeights {
    /// Whether the model is not a trained one (seeded random or synthetic weights): its sweep measures the
    /// architecture, and every output says so ([`ModelWeights::tag`]).
    pub fn is_untrained(&self) -> bool {
        matches!(
            self,
            Self::Untrained { .. }
                | Self::Onnx {
                    synthetic: true,
                    ..
                }
        )
    }

    /// The warning in titles of an untrained model: `UNTRAINED` or `SYNTHETIC WEIGHTS`; `None` for a
    /// trained one.
    pub fn tag(&self) -> Option<&'static str> {
        match self {
            Self::Untrained { .. } => Some("UNTRAINED"),
            Self::Onnx {
                synthetic: true, ..
            } => Some("SYNTHETIC WEIGHTS"),
            _ => None,
        }
    }

    /// One line for reports: `UNTRAINED (seeded random weights, seed S)`, `weights from FILE`,
    /// `trained by this sweep`, `weights in the ONNX file FILE` or `SYNTHETIC weights ...`.
    pub fn label(&self) -> String {
        match self {
            Self::TrainedHere => "trained by this sweep".into(),
            Self::File { path } => format!("weights from {path}"),
            Self::Onnx {
                path,
                synthetic: false,
            } => format!("weights in the ONNX file {path}"),
            Self::Onnx {
                path,
                synthetic: true,
            } => format!(
                "SYNTHETIC weights (every convolution / matrix weight of {path} is a constant fill, as in the \
                 onnx wheel's light_*.onnx test graphs; the sweep measures the graph's architecture, not what \
                 a trained model leaks)"
            ),
            Self::Untrained { seed } => format!(
                "UNTRAINED (seeded random weights, seed {seed}; pass --weights FILE for a trained model)"
            ),
        }
    }
}

/// An ONNX model attacked black-box at chosen cut nodes (see `super::onnx`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnnxSpec {
    /// The model file.
    pub path: std::path::PathBuf,
    /// The cut nodes in graph order: partition point `k` (from 1) exposes the output of `cuts[k - 1]`.
    pub cuts: Vec<String>,
    /// Input height and width (pixels) the graph is run at.
    pub input_size: usize,
    /// Images per runtime call.
    pub batch: usize,
}

impl OnnxSpec {
    /// `path` cut at `cuts`, run at `input_size` px, [`OnnxSpec::DEFAULT_BATCH`] images per call.
    pub fn new(path: std::path::PathBuf, cuts: Vec<String>, input_size: usize) -> Self {
        Self {
            path,
            cuts,
            input_size,
            batch: Self::DEFAULT_BATCH,
        }
    }

    /// Images per runtime call unless set: 16.
    pub const DEFAULT_BATCH: usize = 16;
}

/// Default SSIM threshold of the threshold rule (`--rule threshold`; docs/SWEEP.md): 0.3.
pub const DEFAULT_SSIM_THRESHOLD: f64 = 0.3;

impl SweepConfig {
    /// The attacked model's name for titles and messages: the ONNX file name, else the architecture.
    pub fn model_name(&self) -> String {
        match &self.onnx {
            Some(o) => format!(
                "ONNX {}",
                o.path
                    .file_name()
                    .map_or(o.path.display().to_string(), |f| {
                        f.to_string_lossy().into_owned()
                    })
            ),
            None => format!("{:?}", self.arch.kind),
        }
    }

    /// The black-box ONNX sweep of `spec`: [`SweepConfig::imagenet`]'s sizes, images (attacker and
    /// evaluation crops of disjoint photographs) and ImageNet input normalisation (applied to the pixels
    /// before the graph, as torchvision-exported classifiers expect), with the c-GAN and the inverse network
    /// only (white-box rMLE needs gradients the ONNX runtime does not give) at the cut points `1..=m`, on
    /// standardised feature maps ([`SweepConfig::standardise_features`]). `arch`
    /// only records the input (3 x `spec.input_size` px; its `classes` are set from the graph's output by
    /// `super::onnx::onnx_victim`).
    pub fn onnx(spec: OnnxSpec) -> Self {
        let mut c = Self::imagenet(ArchConfig {
            in_channels: 3,
            input_size: spec.input_size,
            classes: 1,
            ..ArchConfig::small_cnn()
        });
        c.attacks = vec![ReconstructionAttack::Cgan, ReconstructionAttack::Inverse];
        c.standardise_features = true;
        c.onnx = Some(spec);
        c.points = Some(c.coarse_points());
        c
    }

    /// The coarse partition points (`--points coarse`): the architecture's ([`ArchConfig::coarse_points`]),
    /// or every cut point `1..=m` of an ONNX sweep.
    pub fn coarse_points(&self) -> Vec<usize> {
        match &self.onnx {
            Some(o) => (1..=o.cuts.len()).collect(),
            None => self.arch.coarse_points(),
        }
    }

    /// Whether any configured attack trains on attacker data.
    pub fn black_box(&self) -> bool {
        self.attacks.iter().any(|a| a.needs_attacker_data())
    }

    /// The Fashion-MNIST small-CNN sweep (the `fashion` preset): every partition point, c-GAN + inverse
    /// network + rMLE; the small CNN of `ArchConfig::small_cnn` trained for 3 epochs.
    pub fn fashion_mnist() -> Self {
        let train = AttackTrainConfig {
            epochs: 3,
            batch_size: 32,
            learning_rate: 2e-3,
            seed: 7,
            decoder: DecoderConfig {
                channels: 24,
                min_channels: 12,
            },
        };
        Self {
            arch: ArchConfig::small_cnn(),
            points: None,
            attacks: ReconstructionAttack::ALL.to_vec(),
            classifier: ClassifierTrainConfig::default(),
            attacker_images: 1_500,
            eval_images: 200,
            rmle_images: 16,
            inverse: train.clone(),
            cgan: CganConfig::with_generator(train),
            rmle: RmleConfig::default(),
            norm: InputNorm::default(),
            ssim_threshold: DEFAULT_SSIM_THRESHOLD,
            rule: RuleConfig::default(),
            enclave: EnclaveConfig::default(),
            weights: None,
            seed: None,
            onnx: None,
            standardise_features: false,
            grid_images: 4,
            latency_reps: 20,
            device: DeviceChoice::Flex,
        }
    }

    /// The `tiny` preset: the small CNN at a quarter of its width, few images and epochs (about a minute on
    /// 2 cores); for tests and `privsplit run`'s default experiment.
    pub fn tiny() -> Self {
        let mut c = Self::fashion_mnist();
        c.arch = ArchConfig::small_cnn().with_width(0.25);
        c.classifier = ClassifierTrainConfig {
            epochs: 2,
            batch_size: 64,
            learning_rate: 2e-3,
            images: 2_000,
            seed: 1,
        };
        c.attacker_images = 512;
        c.eval_images = 32;
        c.rmle_images = 4;
        c.inverse.epochs = 3;
        c.inverse.batch_size = 32;
        c.inverse.learning_rate = 3e-3;
        c.inverse.decoder = DecoderConfig {
            channels: 16,
            min_channels: 8,
        };
        c.cgan = CganConfig {
            disc_channels: 8,
            ..CganConfig::with_generator(c.inverse.clone())
        };
        c.rmle.steps = 30;
        c.latency_reps = 3;
        c.grid_images = 2;
        c
    }

    /// A sweep of an ImageNet zoo model `arch` (VGG-16, ResNet-50, EfficientNet-B0/Lite0 at
    /// `arch.input_size` px) on RGB crops: its coarse partition points ([`ArchConfig::coarse_points`]),
    /// c-GAN + inverse network + rMLE, 384 attacker crops and 16 evaluation crops from disjoint
    /// photographs, 64 distractor crops for the identification test, ImageNet input normalisation. The
    /// decoders are sized for 96 px on a CPU: 32 channels at the feature map's resolution, halved at every
    /// upsampling down to 8 (flat feature maps start from an 8x8 grid,
    /// `privsplit_attacks::decoder::MAX_FLAT_GRID`), 4 epochs; rMLE 100 steps on 4 images.
    pub fn imagenet(arch: ArchConfig) -> Self {
        let mut c = Self::fashion_mnist();
        c.points = Some(arch.coarse_points());
        c.arch = arch;
        c.attacker_images = 384;
        c.eval_images = 16;
        c.rmle_images = 4;
        c.inverse = AttackTrainConfig {
            epochs: 4,
            batch_size: 32,
            learning_rate: 2e-3,
            seed: 7,
            decoder: DecoderConfig {
                channels: 32,
                min_channels: 8,
            },
        };
        c.cgan = CganConfig {
            disc_channels: 8,
            ..CganConfig::with_generator(c.inverse.clone())
        };
        c.rmle = RmleConfig {
            steps: 100,
            learning_rate: 0.1,
            tv_weight: 0.02,
        };
        c.rule.distractor_images = 64;
        c.norm = InputNorm::imagenet();
        c.grid_images = 4;
        c.latency_reps = 3;
        c
    }

    /// The `lite0` preset: the pretrained EfficientNet-Lite0 (ImageNet, 1000 classes) at `size` x `size`,
    /// [`SweepConfig::imagenet`] (all three attacks over its coarse partition points).
    pub fn lite0(size: usize) -> Self {
        Self::imagenet(ArchConfig::efficientnet_lite0(size, 1000))
    }

    /// The same sweep with every seed derived from `seed`: classifier training, inverse network, c-GAN,
    /// and the rule's bootstrap / distractor draws / label decoder (`seed` itself). rMLE is deterministic.
    pub fn with_seed(mut self, seed: u64) -> Self {
        let derive = |i: u64| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
        self.seed = Some(seed);
        self.classifier.seed = derive(1);
        self.inverse.seed = derive(2);
        self.cgan.train.seed = derive(3);
        self.rule.seed = seed;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: a threshold outside `[0, 1]`, no attacks, zero evaluation
    /// images, a black-box attack without attacker images; as [`RuleConfig::validate`] and
    /// [`EnclaveConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        self.rule.validate()?;
        self.enclave.validate()?;
        if !(0.0..=1.0).contains(&self.ssim_threshold) {
            return Err(Error::invalid(
                "SSIM threshold",
                "a value in [0, 1]",
                self.ssim_threshold.to_string(),
            ));
        }
        if self.attacks.is_empty() || self.eval_images == 0 {
            return Err(Error::invalid(
                "sweep config",
                "at least one attack and one evaluation image",
                format!(
                    "{} attacks, {} evaluation images",
                    self.attacks.len(),
                    self.eval_images
                ),
            ));
        }
        if self.black_box() && self.attacker_images == 0 {
            return Err(Error::invalid(
                "attacker_images",
                ">= 1 for the c-GAN / inverse-network attacks",
                "0",
            ));
        }
        Ok(())
    }
}
