//! The CNN backbones, each written against its checkpoint's tensor names,
//! and the batch runner they share.

pub(crate) mod batch;
pub mod efficientnet_lite;
pub mod resnet;
