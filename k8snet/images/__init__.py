"""Image catalogue and the k8snet implementations of the images it names."""
