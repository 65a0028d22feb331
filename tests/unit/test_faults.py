from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import RedisBackupError, SourceFault, StorageFault, ValidationFault


def test_a_fault_prints_its_elasticache_code_first() -> None:
    fault = SourceFault("no Pod or StatefulSet named mycluster", code=FaultCode.CACHE_CLUSTER_NOT_FOUND)
    assert str(fault) == "CacheClusterNotFound: no Pod or StatefulSet named mycluster"


def test_storage_faults_are_transient_and_validation_faults_are_not() -> None:
    assert StorageFault("S3 endpoint refused the connection").transient is True
    assert ValidationFault("snapshotName is empty").transient is False


def test_every_fault_is_catchable_as_the_base_class() -> None:
    for cls in (ValidationFault, SourceFault, StorageFault):
        assert issubclass(cls, RedisBackupError)
