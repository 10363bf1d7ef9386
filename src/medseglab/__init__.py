"""medseglab: the Ghosal & Shah (2021) TII vs LMI segmentation study as a trackable platform."""

__version__ = "0.1.0"
