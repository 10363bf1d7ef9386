"""The built-in formats; importing this package registers them."""

from medseglab.data.formats import dicom, folder, gleason2019, isic2018, kits19, synthetic  # noqa: F401
