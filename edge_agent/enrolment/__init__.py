"""First-boot enrolment of a box: its own key, a CSR over the bootstrap account, then mTLS and renewal."""
