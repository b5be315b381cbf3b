"""What-if: a candidate trust change judged against everything that runs (core/whatif/service.py)."""
