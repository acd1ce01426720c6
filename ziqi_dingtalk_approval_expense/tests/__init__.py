from . import test_expense_approval
