"""cartcast: warehouse-native prediction of what shoppers do next."""

__version__ = "0.1.0"
