from . import test_purchase_approval, test_tour_approval
