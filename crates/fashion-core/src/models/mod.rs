//! The CNN backbones, each written against its checkpoint's tensor names.

pub mod efficientnet_lite;
pub mod resnet;
