from . import test_purchase_approval
