//! Understanding what a network learned (the lecture's last part, after Zeiler & Fergus,
//! *Visualizing and understanding convolutional networks*, 2014): deconvnet projections of
//! feature maps to pixels, attributions of a class score, occlusion sensitivity, feature
//! evolution and invariance. Planned; this module is its room in the layout.

pub mod figure;
