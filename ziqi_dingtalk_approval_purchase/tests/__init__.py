from . import test_approval_security, test_purchase_approval, test_tour_approval
