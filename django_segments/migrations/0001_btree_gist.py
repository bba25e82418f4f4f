from django.db import migrations

from django_segments.migrations_ops import CreateBtreeGist


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [CreateBtreeGist()]
