"""E-commerce behaviour analytics, segmentation and recommendations on the REES46 dataset."""

__version__ = "0.1.0"
