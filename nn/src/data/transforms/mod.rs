//! Data augmentation (`docs/lecture.md#data-augmentation`): seeded per-sample transforms of
//! images (random affine, elastic distortion, erasing) applied on the fly while a training
//! step runs. Planned; this module is its room in the layout.
