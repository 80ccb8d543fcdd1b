/* The page database: storage and names. Seeding lives in pdb_seed.c. */
#include "mm/pdb.h"

struct pdb pdb;

const char *pdb_owner_name(enum pdb_owner o)
{
	static const char *const names[PDB_OWNER_COUNT] = {
	    [PDB_UNMANAGED] = "unmanaged",   [PDB_FREE_DIRTY] = "free-dirty",
	    [PDB_FREE_CLEAN] = "free-clean", [PDB_HYPERVISOR] = "hypervisor",
	    [PDB_FIRMWARE] = "firmware",     [PDB_EXIT_HANDLER] = "exit-handler",
	    [PDB_STAGE2] = "stage2-table",   [PDB_GUEST] = "guest",
	};
	return (unsigned)o < PDB_OWNER_COUNT ? names[o] : "invalid";
}
