"""The trio shell of store-and-forward: group commit, delivery attempts, outbound pushes."""
