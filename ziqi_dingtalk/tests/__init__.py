from . import test_settings, test_tour_settings
