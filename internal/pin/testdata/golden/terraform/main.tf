resource "kubernetes_deployment" "web" {
  metadata {
    name = "web"
  }
  spec {
    template {
      spec {
        container {
          name  = "web"
          image = "registry.example.com/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        }
        container {
          name  = "cache"
          image = "redis:7.2@sha256:357908b46a35ecc9700a59b7c497276e7363662db4e11b10c5ec430ab3be39d1"
        }
        container {
          name  = "templated"
          image = "${var.registry}/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        }
      }
    }
  }
}
